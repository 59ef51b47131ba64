// Runs the Express peer (../shared/peers/express/server.js, installed by its run.sh) in PEER_WORKERS processes
// with Node's standard cluster module, the Node counterpart of uvicorn's WEB_CONCURRENCY: the workers share one port.
// The peer itself has no cluster mode; its code is not changed.
const cluster = require('node:cluster');

const workers = Number(process.env.PEER_WORKERS || 1);
if (cluster.isPrimary && workers > 1) {
  for (let i = 0; i < workers; i += 1) cluster.fork();
  cluster.on('exit', (worker, code) => {
    console.error(`peer worker ${worker.process.pid} exited (${code})`);
    process.exitCode = 1;
  });
  process.on('SIGTERM', () => {
    for (const worker of Object.values(cluster.workers)) worker.kill('SIGTERM');
    process.exit();
  });
} else {
  require(process.env.PEER_SERVER);
}
