package dev.kubecoderun.stores;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.concurrent.TimeUnit;

/**
 * A real S3-compatible server for the tests: S3Proxy (org.gaul:s3proxy from Maven Central, copied
 * into target/s3proxy by the build) as its own process, with its filesystem backend in a temporary
 * directory, on a free loopback port.
 */
public final class S3Server {
  public static final String ACCESS_KEY = "kcr-test-access";
  public static final String SECRET_KEY = "kcr-test-secret-key";
  private static S3Server shared;

  final int port;
  private final Path dir;
  private Process process;

  private S3Server(int port, Path dir) {
    this.port = port;
    this.dir = dir;
  }

  public static synchronized S3Server shared() {
    if (shared == null) {
      try {
        shared = new S3Server(FreePort.pick(), Files.createTempDirectory("kcr-s3-"));
      } catch (IOException e) {
        throw new UncheckedIOException(e);
      }
      shared.start();
      Runtime.getRuntime().addShutdownHook(new Thread(shared::stop));
    }
    return shared;
  }

  /** Where the server keeps a bucket's objects (and the parts of its unfinished uploads). */
  public Path bucketDir(String bucket) {
    return dir.resolve("data").resolve(bucket);
  }

  public String endpoint() {
    return "http://127.0.0.1:" + port;
  }

  public synchronized void start() {
    Path jar = Path.of("target/s3proxy/s3proxy.jar").toAbsolutePath();
    if (!Files.isRegularFile(jar)) {
      throw new IllegalStateException(jar + " is missing: the Maven build copies it there");
    }
    try {
      Files.createDirectories(dir.resolve("data"));
      Path conf = dir.resolve("s3proxy.conf");
      Files.writeString(
          conf,
          String.join(
              "\n",
              "s3proxy.endpoint=http://127.0.0.1:" + port,
              "s3proxy.authorization=aws-v2-or-v4",
              "s3proxy.identity=" + ACCESS_KEY,
              "s3proxy.credential=" + SECRET_KEY,
              "jclouds.provider=filesystem-nio2",
              "jclouds.identity=" + ACCESS_KEY,
              "jclouds.credential=" + SECRET_KEY,
              "jclouds.filesystem.basedir=" + dir.resolve("data"),
              ""));
      String java = Path.of(System.getProperty("java.home"), "bin", "java").toString();
      process =
          new ProcessBuilder(
                  List.of(
                      java,
                      "-Xmx256m",
                      "-XX:TieredStopAtLevel=1",
                      "-jar",
                      jar.toString(),
                      "--properties",
                      conf.toString()))
              .redirectErrorStream(true)
              .redirectOutput(dir.resolve("s3proxy.log").toFile())
              .start();
    } catch (IOException e) {
      throw new UncheckedIOException(e);
    }
    FreePort.awaitListening(port, Duration.ofSeconds(60), process);
  }

  public synchronized void stop() {
    if (process == null) {
      return;
    }
    process.destroy();
    try {
      if (!process.waitFor(10, TimeUnit.SECONDS)) {
        process.destroyForcibly();
      }
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
    }
  }
}
