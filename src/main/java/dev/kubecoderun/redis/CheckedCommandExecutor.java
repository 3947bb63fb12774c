package dev.kubecoderun.redis;

import java.util.logging.Logger;
import redis.clients.jedis.CommandObject;
import redis.clients.jedis.Connection;
import redis.clients.jedis.exceptions.JedisConnectionException;
import redis.clients.jedis.exceptions.JedisDataException;
import redis.clients.jedis.executors.CommandExecutor;
import redis.clients.jedis.providers.ConnectionProvider;
import redis.clients.jedis.util.IOUtils;

/**
 * jedis's default executor (one pooled connection per command), except that a connection whose
 * command failed for any reason but a Redis error reply is marked broken, so the pool destroys it
 * instead of handing it out again. jedis itself does so for failures while writing or reading, not
 * for a reply it read whole but cannot use (a reply of another type: the peer is not answering as
 * Redis, or the stream is out of step); such a failure becomes a connection failure (503).
 */
final class CheckedCommandExecutor implements CommandExecutor {
  private static final Logger LOG = Logger.getLogger(CheckedCommandExecutor.class.getName());

  private final ConnectionProvider provider;

  CheckedCommandExecutor(ConnectionProvider provider) {
    this.provider = provider;
  }

  @Override
  public <T> T executeCommand(CommandObject<T> command) {
    try (Connection connection = provider.getConnection(command.getArguments())) {
      try {
        return connection.executeCommand(command);
      } catch (JedisDataException e) {
        throw e; // a whole error reply was read: the connection is still in step
      } catch (JedisConnectionException e) {
        connection.setBroken();
        throw e;
      } catch (RuntimeException e) {
        connection.setBroken();
        String what = "Redis reply unusable for " + command.getArguments().getCommand() + ": " + e;
        LOG.warning(what + "; the connection is dropped");
        throw new JedisConnectionException(what, e);
      } catch (Error e) {
        connection.setBroken();
        throw e;
      }
    }
  }

  @Override
  public void close() {
    IOUtils.closeQuietly(provider);
  }
}
