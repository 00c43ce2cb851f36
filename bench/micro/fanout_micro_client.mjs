// Load clients for bench/fanout_micro.py: `count` socket.io-client connections in one process.
// argv: url token count. Prints "ready" once every connection has its snapshot; then for each
// stdin line "expect <n>" prints "done" once every connection has received n "bench" events.
import { io } from "socket.io-client";
import readline from "node:readline";

const [url, token, countArg] = process.argv.slice(2);
const count = Number(countArg);
const received = new Array(count).fill(0);
let expected = Infinity;
let snapshots = 0;
let reported = true;

const check = () => {
  if (!reported && received.every((n) => n >= expected)) {
    reported = true;
    process.stdout.write("done\n");
  }
};

for (let i = 0; i < count; i++) {
  const socket = io(url, { auth: { token }, transports: ["websocket"], reconnection: false });
  socket.on("instances.snapshot", () => {
    if (++snapshots === count) process.stdout.write("ready\n");
  });
  socket.on("bench", () => {
    received[i] += 1;
    check();
  });
  socket.on("connect_error", (err) => process.stderr.write(`connect_error ${err.message}\n`));
}

readline.createInterface({ input: process.stdin }).on("line", (line) => {
  const [cmd, n] = line.split(" ");
  if (cmd === "expect") {
    received.fill(0);
    expected = Number(n);
    reported = false;
    check();
  }
});
process.stdin.on("end", () => process.exit(0));
