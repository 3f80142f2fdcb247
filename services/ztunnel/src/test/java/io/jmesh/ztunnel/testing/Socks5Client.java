package io.jmesh.ztunnel.testing;

import java.io.DataInputStream;
import java.io.IOException;
import java.io.OutputStream;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.Socket;
import java.nio.charset.StandardCharsets;

/** A minimal blocking SOCKS5 client for tests: no auth, CONNECT, from a chosen local (workload) address. */
public final class Socks5Client {

    /** The server's answer was not "succeeded". */
    public static final class Refused extends IOException {
        private static final long serialVersionUID = 1L;
        public final int code;

        Refused(int code) {
            super("socks5 reply " + code);
            this.code = code;
        }
    }

    private Socks5Client() {}

    /** Connects through {@code socks} from {@code bindIp} to {@code host:port} (IP literal or hostname). */
    public static Socket connect(InetSocketAddress socks, String bindIp, String host, int port) throws IOException {
        Socket s = request(socks, bindIp, host, port);
        DataInputStream in = new DataInputStream(s.getInputStream());
        byte[] head = new byte[4];
        in.readFully(head);
        int rest = head[3] == 1 ? 6 : head[3] == 4 ? 18 : 2 + (in.readUnsignedByte());
        in.readFully(new byte[rest]);
        if (head[1] != 0) {
            s.close();
            throw new Refused(head[1] & 0xff);
        }
        return s;
    }

    /**
     * Sends the CONNECT request for {@code host:port} and returns without waiting for its reply (which ztunnel sends
     * once the tunnel is open): an application that may give up first.
     */
    public static Socket request(InetSocketAddress socks, String bindIp, String host, int port) throws IOException {
        Socket s = new Socket();
        s.setSoTimeout(20_000);
        s.bind(new InetSocketAddress(bindIp, 0));
        s.connect(socks, 5_000);
        OutputStream out = s.getOutputStream();
        DataInputStream in = new DataInputStream(s.getInputStream());
        out.write(new byte[] {5, 1, 0});
        out.flush();
        byte[] method = new byte[2];
        in.readFully(method);
        if (method[1] != 0) {
            s.close();
            throw new Refused(method[1] & 0xff);
        }
        byte[] req;
        boolean ip = host.matches("[0-9.]+") || host.contains(":");
        if (ip) {
            byte[] a = InetAddress.getByName(host).getAddress();
            req = new byte[4 + a.length + 2];
            req[3] = (byte) (a.length == 4 ? 1 : 4);
            System.arraycopy(a, 0, req, 4, a.length);
        } else {
            byte[] name = host.getBytes(StandardCharsets.US_ASCII);
            req = new byte[5 + name.length + 2];
            req[3] = 3;
            req[4] = (byte) name.length;
            System.arraycopy(name, 0, req, 5, name.length);
        }
        req[0] = 5;
        req[1] = 1;
        req[req.length - 2] = (byte) (port >> 8);
        req[req.length - 1] = (byte) port;
        out.write(req);
        out.flush();
        return s;
    }
}
