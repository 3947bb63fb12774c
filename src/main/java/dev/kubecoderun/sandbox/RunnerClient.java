package dev.kubecoderun.sandbox;

import dev.kubecoderun.api.Json;
import io.helidon.common.media.type.MediaTypes;
import io.helidon.http.HeaderNames;
import io.helidon.http.Status;
import io.helidon.webclient.api.HttpClientResponse;
import io.helidon.webclient.api.WebClient;
import java.io.IOException;
import java.io.InputStream;
import java.io.UncheckedIOException;
import java.net.URI;
import java.nio.charset.StandardCharsets;
import java.time.Duration;

/**
 * HTTP client of one sandbox's runner (docs/runner-protocol.md). Plain blocking calls.
 *
 * <p>Connections are not kept alive: a sandbox sees a handful of calls, on loopback, and a
 * connection left idle in Helidon's cache can fail when reused (helidon-io/helidon#10861).
 */
public final class RunnerClient {
  /** Reads a file's bytes from the runner. */
  @FunctionalInterface
  public interface FileReader<T> {
    T read(InputStream in) throws IOException;
  }

  private final WebClient http;
  private final URI base;
  private final String authorization;

  public RunnerClient(WebClient http, URI base, String token) {
    this.http = http;
    this.base = base;
    this.authorization = "Bearer " + token;
  }

  public URI base() {
    return base;
  }

  /** True when GET /health answers 200; with {@code needWarm} also when the warm one is up. */
  public boolean healthy(String warmLanguage) {
    try (HttpClientResponse res =
        http.get(base.resolve("/health").toString())
            .keepAlive(false)
            .readTimeout(Duration.ofSeconds(2))
            .request()) {
      if (res.status() != Status.OK_200) {
        return false;
      }
      if (warmLanguage == null) {
        return true;
      }
      var body = Json.tree(res.entity().as(byte[].class));
      return body.path("warm").path(warmLanguage).asBoolean(false);
    } catch (RuntimeException | IOException e) {
      return false;
    }
  }

  public RunnerResult execute(RunnerRequest request, Duration timeout) throws SandboxException {
    try (HttpClientResponse res =
        http.post(base.resolve("/execute").toString())
            .keepAlive(false)
            .header(HeaderNames.AUTHORIZATION, authorization)
            .contentType(MediaTypes.APPLICATION_JSON)
            .readTimeout(timeout)
            .submit(Json.write(request))) {
      byte[] body = res.entity().as(byte[].class);
      if (res.status() != Status.OK_200) {
        throw new SandboxException(
            "runner answered "
                + res.status().code()
                + " to execute: "
                + new String(body, StandardCharsets.UTF_8));
      }
      return Json.read(body, RunnerResult.class);
    } catch (RuntimeException e) {
      throw new SandboxException("runner execute failed: " + e.getMessage(), e);
    }
  }

  /** Streams {@code content} to the workdir path {@code path}. */
  public void putFile(String path, InputStream content) throws SandboxException {
    try (HttpClientResponse res =
        http.put(fileUri(path))
            .keepAlive(false)
            .header(HeaderNames.AUTHORIZATION, authorization)
            .contentType(MediaTypes.APPLICATION_OCTET_STREAM)
            .outputStream(
                out -> {
                  content.transferTo(out);
                  out.close();
                })) {
      if (res.status().code() != 201 && res.status().code() != 200) {
        throw new SandboxException(
            "runner refused file "
                + path
                + ": "
                + res.status().code()
                + " "
                + res.as(String.class));
      }
    } catch (RuntimeException e) {
      throw new SandboxException("runner put file failed: " + e.getMessage(), e);
    }
  }

  /** Streams the workdir file {@code path} to {@code reader}. */
  public <T> T readFile(String path, FileReader<T> reader) throws SandboxException, IOException {
    try (HttpClientResponse res =
        http.get(fileUri(path))
            .keepAlive(false)
            .header(HeaderNames.AUTHORIZATION, authorization)
            .request()) {
      if (res.status() != Status.OK_200) {
        throw new SandboxException("runner cannot read " + path + ": " + res.status().code());
      }
      try (InputStream in = res.inputStream()) {
        return reader.read(in);
      }
    } catch (UncheckedIOException e) {
      throw e.getCause();
    } catch (RuntimeException e) {
      throw new SandboxException("runner read file failed: " + e.getMessage(), e);
    }
  }

  private String fileUri(String path) {
    StringBuilder sb = new StringBuilder(base.toString()).append("/files");
    for (String segment : path.split("/")) {
      sb.append('/').append(PathEncoding.encodeSegment(segment));
    }
    return sb.toString();
  }
}
