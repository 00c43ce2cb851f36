// Node's official socket.io-client against evo-relay, for tests/hub/test_node_interop.py.
// Usage: node client.mjs '<json: {url, auth, subscribe?, transports?}>'
// Prints one JSON line per happening: {"type":"connect"}, {"type":"connect_error","data":...},
// {"type":"event","name":...,"data":...}, {"type":"ack","data":...},
// {"type":"disconnect","data":{"reason":...}}. Exits when stdin closes.
import { io } from "socket.io-client";

const config = JSON.parse(process.argv[2]);
const print = (line) => process.stdout.write(JSON.stringify(line) + "\n");

const socket = io(config.url, {
  auth: config.auth,
  transports: config.transports ?? ["websocket"],
  reconnection: false,
});

socket.on("connect", async () => {
  print({ type: "connect" });
  if (config.subscribe) {
    const ack = await socket.emitWithAck("subscribe", config.subscribe);
    print({ type: "ack", data: ack });
  }
});
socket.on("connect_error", (err) => print({ type: "connect_error", data: { message: err.message } }));
socket.on("disconnect", (reason) => print({ type: "disconnect", data: { reason } }));
socket.onAny((name, data) => print({ type: "event", name, data }));

process.stdin.resume();
process.stdin.on("end", () => {
  socket.close();
  process.exit(0);
});
