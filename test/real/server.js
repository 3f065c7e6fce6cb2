// server.js: the Node.js program of run-real.sh. An HTTP server on
// 127.0.0.1:PORT that counts the requests it has answered and the ticks
// of a 10 ms timer, and answers each request with
//
//	requests=N ticks=T
//
//	node server.js PORT
'use strict';
const http = require('http');

const port = Number(process.argv[2]);
let requests = 0;
let ticks = 0;
setInterval(() => { ticks++; }, 10);

http.createServer((req, res) => {
	requests++;
	res.writeHead(200, { 'Content-Type': 'text/plain', 'Connection': 'close' });
	res.end(`requests=${requests} ticks=${ticks}\n`);
}).listen(port, '127.0.0.1', () => {
	console.log(`listening on ${port}`);
});
