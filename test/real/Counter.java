// Counter: the JVM of run-real.sh. Holds HEAP_MIB MiB of live data in
// the heap (256 KiB arrays, each filled with a pattern of its own: small
// enough not to be G1's humongous objects), runs
// four threads that each count on, and answers every connection on
// 127.0.0.1:PORT with one HTTP response:
//
//	ticks=N heap=ok|bad threads=4
//
// where N is the sum of the four counters and heap says whether every
// array still holds its pattern.
//
//	java -Xmx384m Counter PORT HEAP_MIB
import java.io.InputStream;
import java.io.OutputStream;
import java.net.InetAddress;
import java.net.ServerSocket;
import java.net.Socket;
import java.nio.charset.StandardCharsets;
import java.util.concurrent.atomic.AtomicLong;

public class Counter {
	static final int CHUNK = 256 << 10;
	static byte[][] heap;
	static final AtomicLong[] counts = new AtomicLong[4];

	static byte pattern(int array, int i) {
		return (byte) (array * 31 + i * 7);
	}

	static boolean heapOK() {
		for (int a = 0; a < heap.length; a++) {
			for (int i = 0; i < CHUNK; i += 4096) {
				if (heap[a][i] != pattern(a, i)) {
					return false;
				}
			}
		}
		return true;
	}

	public static void main(String[] args) throws Exception {
		int port = Integer.parseInt(args[0]);
		int mib = Integer.parseInt(args[1]);
		heap = new byte[mib * ((1 << 20) / CHUNK)][];
		for (int a = 0; a < heap.length; a++) {
			heap[a] = new byte[CHUNK];
			for (int i = 0; i < CHUNK; i++) {
				heap[a][i] = pattern(a, i);
			}
		}
		int alive = 0;
		for (int t = 0; t < counts.length; t++) {
			AtomicLong c = new AtomicLong();
			counts[t] = c;
			Thread th = new Thread(() -> {
				for (;;) {
					c.incrementAndGet();
					try {
						Thread.sleep(10);
					} catch (InterruptedException e) {
						return;
					}
				}
			}, "counter-" + t);
			th.setDaemon(true);
			th.start();
			alive++;
		}
		try (ServerSocket ss = new ServerSocket(port, 16, InetAddress.getLoopbackAddress())) {
			ss.setReuseAddress(true);
			System.out.println("listening on " + port);
			System.out.flush();
			for (;;) {
				try (Socket s = ss.accept()) {
					InputStream in = s.getInputStream();
					byte[] buf = new byte[4096];
					in.read(buf);
					long ticks = 0;
					for (AtomicLong c : counts) {
						ticks += c.get();
					}
					String body = "ticks=" + ticks + " heap=" + (heapOK() ? "ok" : "bad") + " threads=" + alive + "\n";
					String resp = "HTTP/1.0 200 OK\r\nContent-Type: text/plain\r\nContent-Length: " + body.length()
							+ "\r\nConnection: close\r\n\r\n" + body;
					OutputStream out = s.getOutputStream();
					out.write(resp.getBytes(StandardCharsets.US_ASCII));
					out.flush();
				}
			}
		}
	}
}
