// Modal dialogs and their focus: a dialog opens with focus on a chosen control, keeps it
// inside (native <dialog> modality), closes with Esc, and gives focus back to the control that
// opened it (or to a fallback when that one is gone, e.g. a list row scrolled away).
// Also the "Tem certeza?" asked before a delete.

const $ = (id) => document.getElementById(id);

// fallback(): the element to focus when the opener is no longer in the page.
export function openModal(dialog, { focus = null, fallback = () => null } = {}) {
  const opener = document.activeElement;
  dialog.addEventListener(
    "close",
    () => {
      const target = opener && opener.isConnected && opener !== document.body ? opener : fallback();
      if (target) target.focus({ preventScroll: true });
    },
    { once: true },
  );
  dialog.showModal();
  if (focus) focus.focus();
}

// Resolves true when the user confirms.
export function confirmDelete(name) {
  const dialog = $("confirm-dialog");
  $("confirm-text").textContent = `A instância ${name} será removida do Evolution e do relay.`;
  dialog.returnValue = "";
  openModal(dialog, { focus: $("confirm-cancel") });
  return new Promise((resolve) => {
    dialog.addEventListener("close", () => resolve(dialog.returnValue === "confirm"), { once: true });
  });
}
