// A launcher for @vercel/cosmosdb-server that works around its defects for dtq's tests
// (test support only; product code relies on none of this):
// - plain HTTP with keep-alive, so each request does not pay a TLS handshake and a new
//   connection (the stock server closes every connection and serves an expired cert);
// - a missing item answers 404 NotFound as Cosmos DB does, instead of 500.
// Usage: node cosmos_emulator.cjs PORT [HOST]
const { createHttpServer } = require("@vercel/cosmosdb-server");

const port = parseInt(process.argv[2], 10);
const host = process.argv[3] || "127.0.0.1";
const server = createHttpServer({ keepAlive: true });

server.prependListener("request", (req, res) => {
  const end = res.end.bind(res);
  res.end = (chunk, ...rest) => {
    const missing =
      String(chunk || "").includes("does not exist") ||
      // Reading a missing document fails while computing its partition key.
      (["GET", "PUT", "PATCH", "DELETE"].includes(req.method) && /\/docs\/[^/]+\/?(\?.*)?$/.test(req.url));
    if (res.statusCode === 500 && missing) {
      res.statusCode = 404;
      chunk = JSON.stringify({
        code: "NotFound",
        message: "Entity with the specified id does not exist in the system.",
      });
    }
    return end(chunk, ...rest);
  };
});

server.listen(port, host, () => {
  console.log(`cosmos emulator listening on http://${host}:${port}`);
});
for (const signal of ["SIGTERM", "SIGINT"]) {
  process.on(signal, () => server.close(() => process.exit(0)));
}
