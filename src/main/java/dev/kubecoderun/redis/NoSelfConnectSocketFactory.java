package dev.kubecoderun.redis;

import java.io.IOException;
import java.net.Socket;
import java.util.logging.Logger;
import redis.clients.jedis.DefaultJedisSocketFactory;
import redis.clients.jedis.HostAndPort;
import redis.clients.jedis.JedisClientConfig;
import redis.clients.jedis.exceptions.JedisConnectionException;

/**
 * jedis's socket factory, refusing a TCP connection to itself. When nothing listens on a Redis port
 * of this machine that lies in its ephemeral port range (Linux: 32768-60999), a connect can get
 * that very port as its source port and the kernel then joins the socket to itself (TCP
 * simultaneous open): every command written comes back as its own reply, a RESP array. That is how
 * a stopped Redis once gave requests wrong answers (issue 13). Such a socket is closed at once,
 * which also frees the port for Redis to start again.
 */
final class NoSelfConnectSocketFactory extends DefaultJedisSocketFactory {
  private static final Logger LOG = Logger.getLogger(NoSelfConnectSocketFactory.class.getName());

  private final HostAndPort node;

  NoSelfConnectSocketFactory(HostAndPort node, JedisClientConfig config) {
    super(node, config);
    this.node = node;
  }

  @Override
  public Socket createSocket() throws JedisConnectionException {
    Socket socket = super.createSocket();
    if (socket.getLocalPort() == socket.getPort()
        && socket.getLocalAddress().equals(socket.getInetAddress())) {
      try {
        socket.close();
      } catch (IOException e) {
        // closing is all that is left to do
      }
      LOG.warning(
          "Redis at "
              + node
              + " is not listening and the connection reached itself; refused. A Redis port"
              + " outside the ephemeral port range (or in ip_local_reserved_ports) avoids this.");
      throw new JedisConnectionException("Connection to " + node + " reached itself: refused");
    }
    return socket;
  }
}
