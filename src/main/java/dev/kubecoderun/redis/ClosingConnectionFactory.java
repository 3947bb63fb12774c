package dev.kubecoderun.redis;

import redis.clients.jedis.Connection;
import redis.clients.jedis.ConnectionFactory;
import redis.clients.jedis.JedisClientConfig;
import redis.clients.jedis.JedisSocketFactory;
import redis.clients.jedis.exceptions.JedisConnectionException;
import redis.clients.jedis.exceptions.JedisException;

/**
 * jedis's pooled-connection factory, closing a new connection whose handshake failed in any way.
 * jedis closes it only for its own exceptions; a peer that is not Redis can fail the handshake
 * otherwise (a HELLO reply without a protocol version), and that socket would stay open until a
 * garbage collection finds it.
 */
final class ClosingConnectionFactory extends ConnectionFactory {
  ClosingConnectionFactory(JedisSocketFactory sockets, JedisClientConfig config) {
    super(sockets, config);
  }

  @Override
  protected void initialize(Connection connection) {
    try {
      super.initialize(connection);
    } catch (JedisException e) {
      throw e; // jedis closed the connection
    } catch (RuntimeException e) {
      connection.disconnect();
      throw new JedisConnectionException("Redis handshake failed: " + e, e);
    }
  }
}
