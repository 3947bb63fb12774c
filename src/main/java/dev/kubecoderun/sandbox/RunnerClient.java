package dev.kubecoderun.sandbox;

import com.fasterxml.jackson.core.JsonParser;
import com.fasterxml.jackson.core.JsonToken;
import dev.kubecoderun.common.Json;
import dev.kubecoderun.common.Texts;
import dev.kubecoderun.memory.MemoryBudgetExhaustedException;
import dev.kubecoderun.memory.PaidRead;
import dev.kubecoderun.memory.Room;
import io.helidon.common.media.type.MediaTypes;
import io.helidon.common.uri.UriInfo;
import io.helidon.common.uri.UriPath;
import io.helidon.http.HeaderNames;
import io.helidon.http.Status;
import io.helidon.webclient.api.ClientUri;
import io.helidon.webclient.api.HttpClientResponse;
import io.helidon.webclient.api.WebClient;
import java.io.ByteArrayInputStream;
import java.io.FilterInputStream;
import java.io.IOException;
import java.io.InputStream;
import java.io.UncheckedIOException;
import java.net.URI;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.Arrays;

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

  private static final io.helidon.http.HeaderName PATH_HEADER = HeaderNames.create("X-Kcr-Path");

  private final WebClient http;
  private final URI base;
  private final UriInfo baseUri;
  private final String authorization;
  private volatile boolean sandboxEnded;

  public RunnerClient(WebClient http, URI base, String token) {
    this.http = http;
    this.base = base;
    this.baseUri = ClientUri.create(base);
    this.authorization = "Bearer " + token;
  }

  public URI base() {
    return base;
  }

  /**
   * The runner's bearer token (a programmatic run's record keeps it, to reach the runner again).
   */
  public String token() {
    return authorization.substring("Bearer ".length());
  }

  /**
   * True when GET /health answers 200 within 2 s (the whole answer); with {@code needWarm} also
   * when the warm one is up.
   */
  public boolean healthy(String warmLanguage) {
    Duration limit = Duration.ofSeconds(2);
    CallDeadline deadline = new CallDeadline(limit);
    try (deadline;
        HttpClientResponse res =
            http.get(base.resolve("/health").toString())
                .keepAlive(false)
                .readTimeout(limit)
                .request()) {
      if (res.status() != Status.OK_200) {
        return false;
      }
      if (warmLanguage == null) {
        return true;
      }
      // The runner's health answer is a few hundred bytes; one that is not (user code answering
      // in the runner's place on Kubernetes) is no healthy runner, and is not read further.
      byte[] bytes;
      try (var in = res.inputStream()) {
        bytes = in.readNBytes(MAX_HEALTH_BYTES + 1);
      }
      if (bytes.length > MAX_HEALTH_BYTES) {
        return false;
      }
      return Json.tree(bytes).path("warm").path(warmLanguage).asBoolean(false);
    } catch (RuntimeException | IOException e) {
      return false;
    }
  }

  /** The most of a /health answer read (the runner's is a few hundred bytes). */
  static final int MAX_HEALTH_BYTES = 64 << 10;

  /** The reply bound of {@link #execute(RunnerRequest, Duration)}. */
  public static final int DEFAULT_MAX_REPLY_BYTES = 256 << 20;

  /** {@link #execute(RunnerRequest, Duration, int, Room)} of at most 256 MiB, on no budget. */
  public RunnerResult execute(RunnerRequest request, Duration timeout) throws SandboxException {
    return execute(request, timeout, DEFAULT_MAX_REPLY_BYTES, Room.NONE);
  }

  /**
   * What each byte of a runner's answer to execute may cost until its run is over: the byte itself,
   * the strings parsed from it (JSON escapes only shrink text, and a character is at most 2 bytes
   * in a Java string, so at most 2 bytes), and what the run makes of them after (the decoded state,
   * 3/4 of its base64; the outputs cleaned for the answer, at most as large as what they came from,
   * by then the answer's bytes are garbage).
   */
  public static final int REPLY_COST = 4;

  /** The most files, and deleted names, an answer to execute lists (docs/runner-protocol.md). */
  public static final int MAX_LISTED = 10_000;

  /** The most {@code unlisted} entries an answer to execute has (docs/runner-protocol.md). */
  public static final int MAX_UNLISTED = 100;

  /**
   * The most JSON tokens (values, field names, ends of objects and arrays) an answer to execute, or
   * to /ptc/wait, may hold, from the protocol's caps: {@link #MAX_LISTED} files of 12 tokens each
   * (an object of 5 fields), {@link #MAX_LISTED} deleted names of 1, {@link #MAX_UNLISTED} unlisted
   * entries of 10 (4 fields), 101 state errors (100 and the runner's "more not shown"), and 256 for
   * the 18 top-level fields and the brackets: 131,357.
   */
  public static final long MAX_REPLY_TOKENS =
      12L * MAX_LISTED + MAX_LISTED + 10L * MAX_UNLISTED + 101 + 256;

  /**
   * Refuses a JSON answer of more than {@code max} tokens before anything is built of it: {@link
   * #REPLY_COST} pays for an answer's bytes, not for the object each value becomes (a list entry, a
   * tree node: tens of bytes even for a 2-byte {@code "a",} or {@code {},}), so {@code
   * {"deleted":["a","a",...]}} would cost ~13 times its bytes, {@code [{},{},...]} as a tree ~25
   * times. Counting builds nothing. Not JSON is refused too.
   */
  public static void checkTokens(InputStream json, long max, String what) throws SandboxException {
    long tokens;
    try {
      tokens = Json.tokens(json, max);
    } catch (IOException e) {
      throw new SandboxException("unreadable runner answer to " + what + ": " + e.getMessage(), e);
    }
    if (tokens > max) {
      throw new SandboxException(
          "the runner's answer to " + what + " holds more than " + max + " JSON values; refused");
    }
  }

  /**
   * Runs the request. {@code timeout} bounds the whole call, not only each read: past it the call
   * ends ({@link CallDeadline}) with a SandboxException. At most {@code maxReplyBytes} of the
   * runner's answer are read: the runner bounds its output, state and file list, so a longer answer
   * means a runner that is not ours (on Kubernetes it shares its pod with user code) and is refused
   * without holding it. The answer is read in pieces, {@code room} asked for {@link #REPLY_COST}
   * times each before it is read (user code decides how long the answer is): a {@link
   * MemoryBudgetExhaustedException} from it ends the call, the rest unread. Its waits for room do
   * not count towards {@code timeout}.
   */
  public RunnerResult execute(RunnerRequest request, Duration timeout, int maxReplyBytes, Room room)
      throws SandboxException {
    CallDeadline deadline = new CallDeadline(timeout);
    try (deadline;
        HttpClientResponse res =
            http.post(base.resolve("/execute").toString())
                .keepAlive(false)
                .header(HeaderNames.AUTHORIZATION, authorization)
                .contentType(MediaTypes.APPLICATION_JSON)
                .readTimeout(timeout)
                .submit(Json.write(request))) {
      PaidRead body;
      try (InputStream in = res.inputStream()) {
        body = PaidRead.of(in, maxReplyBytes, offTheClock(room, deadline), REPLY_COST);
      } catch (IOException e) {
        throw new SandboxException("runner execute failed: " + e.getMessage(), e);
      }
      if (body.length() > maxReplyBytes) {
        throw new SandboxException(
            "the runner's answer is larger than " + maxReplyBytes + " bytes; refused");
      }
      if (res.status() != Status.OK_200) {
        throw new SandboxException(
            "runner answered " + res.status().code() + " to execute: " + errorText(body));
      }
      checkTokens(body.stream(), MAX_REPLY_TOKENS, "execute");
      RunnerResult result = Json.read(body.stream(), RunnerResult.class);
      if (result == null) {
        throw new SandboxException("the runner's answer to execute is empty (null)");
      }
      if (result.sandboxEnded()) {
        sandboxEnded = true;
      }
      return result;
    } catch (MemoryBudgetExhaustedException e) {
      if (deadline.passed()) {
        throw deadline.exceeded("the run", e);
      }
      throw e;
    } catch (SandboxException | RuntimeException e) {
      if (deadline.passed()) {
        throw deadline.exceeded("the run", e);
      }
      if (e instanceof SandboxException s) {
        throw s;
      }
      throw new SandboxException("runner execute failed: " + e.getMessage(), e);
    }
  }

  /**
   * {@code room}, whose waits {@code deadline} does not count: waiting for memory the replica's
   * other requests hold is not the runner's time (see {@link CallDeadline#stopClock}).
   */
  private static Room offTheClock(Room room, CallDeadline deadline) {
    if (room == Room.NONE) {
      return room;
    }
    return new Room() {
      @Override
      public long reserve(long bytes) {
        deadline.stopClock();
        try {
          return room.reserve(bytes);
        } finally {
          deadline.startClockAgain();
        }
      }

      @Override
      public long reserveAll(long bytes) {
        deadline.stopClock();
        try {
          return room.reserveAll(bytes);
        } finally {
          deadline.startClockAgain();
        }
      }

      @Override
      public long giveBack(long bytes) {
        return room.giveBack(bytes);
      }
    };
  }

  /**
   * Whether the runner said, in an answer to execute, that its sandbox ended itself after that
   * answer (a single-use local sandbox whose run left no file to read): there is nothing to
   * destroy. Only the local backend acts on it: the jail server answers for its sandboxes, whereas
   * a Kubernetes runner shares its pod with user code, so its word would not do to skip a delete.
   */
  public boolean sandboxEnded() {
    return sandboxEnded;
  }

  /** A runner's answer: its status and body. */
  public record Reply(int status, byte[] body) {}

  /** {@link #post(String, Object, Duration, int, Room)} bounded by no budget. */
  public Reply post(String path, Object body, Duration readTimeout, int maxReplyBytes)
      throws SandboxException {
    return post(path, body, readTimeout, maxReplyBytes, Room.NONE);
  }

  /**
   * POSTs JSON to one of the runner's programmatic endpoints ({@code /execute} with {@code ptc},
   * {@code /ptc/continue}, {@code /ptc/wait}, {@code /ptc/cancel}); the caller reads the status.
   * {@code readTimeout} bounds the whole call, as {@link #execute}'s timeout does. An answer over
   * {@code maxReplyBytes} is refused, and {@code room} is asked for each piece of it before it is
   * read (see {@link #execute(RunnerRequest, Duration, int, Room)}).
   */
  public Reply post(String path, Object body, Duration readTimeout, int maxReplyBytes, Room room)
      throws SandboxException {
    CallDeadline deadline = new CallDeadline(readTimeout);
    try (deadline;
        HttpClientResponse res =
            http.post(base.resolve(path).toString())
                .keepAlive(false)
                .header(HeaderNames.AUTHORIZATION, authorization)
                .contentType(MediaTypes.APPLICATION_JSON)
                .readTimeout(readTimeout)
                .submit(Json.write(body))) {
      try (InputStream in = res.inputStream()) {
        PaidRead paid = PaidRead.of(in, maxReplyBytes, offTheClock(room, deadline), REPLY_COST);
        if (paid.length() > maxReplyBytes) {
          throw new SandboxException("runner answer to " + path + " is too large");
        }
        return new Reply(res.status().code(), paid.stream().readAllBytes());
      }
    } catch (MemoryBudgetExhaustedException e) {
      if (deadline.passed()) {
        throw deadline.exceeded(path, e);
      }
      throw e;
    } catch (RuntimeException | IOException e) {
      if (deadline.passed()) {
        throw deadline.exceeded(path, e);
      }
      throw new SandboxException("runner " + path + " failed: " + e.getMessage(), e);
    }
  }

  /**
   * Makes a used sandbox like a fresh one for another run of the same session (the runner's POST
   * /reset: workdir and per-run scratch emptied, warm interpreters started again after the wipe).
   */
  public void reset() throws SandboxException {
    Duration limit = Duration.ofSeconds(30);
    CallDeadline deadline = new CallDeadline(limit);
    try (deadline;
        HttpClientResponse res =
            http.post(base.resolve("/reset").toString())
                .keepAlive(false)
                .header(HeaderNames.AUTHORIZATION, authorization)
                .readTimeout(limit)
                .request()) {
      if (res.status().code() != 204) {
        throw new SandboxException(
            "runner answered " + res.status().code() + " to reset: " + errorText(res));
      }
    } catch (RuntimeException e) {
      if (deadline.passed()) {
        throw deadline.exceeded("a reset", e);
      }
      throw new SandboxException("runner reset failed: " + e.getMessage(), e);
    }
  }

  /**
   * Streams {@code content} to the workdir path {@code path}. The path goes in a header, not in the
   * URL: Helidon 4.4's streamed request loses a request line longer than about 1 KiB (its growing
   * buffer forgets what {@code write(BufferData)} put in it when it grows again), which a long or
   * deeply nested non-ASCII name reaches once encoded. An IOException is {@code content}'s own (its
   * store failed); the runner failing, or not taking it all within {@code limit}, is a
   * SandboxException.
   */
  public void putFile(String path, InputStream content, Duration limit)
      throws SandboxException, IOException {
    CallDeadline deadline = new CallDeadline(limit);
    SourceStream source = new SourceStream(content, deadline);
    try (deadline;
        HttpClientResponse res =
            http.put(base.resolve("/files").toString())
                .header(PATH_HEADER, PathEncoding.encodePath(path))
                .keepAlive(false)
                .header(HeaderNames.AUTHORIZATION, authorization)
                .contentType(MediaTypes.APPLICATION_OCTET_STREAM)
                .readTimeout(limit)
                .outputStream(
                    out -> {
                      source.transferTo(out);
                      out.close();
                    })) {
      if (res.status().code() != 201 && res.status().code() != 200) {
        throw new SandboxException(
            "runner refused file " + path + ": " + res.status().code() + " " + errorText(res));
      }
    } catch (RuntimeException e) {
      if (source.failure != null) {
        throw source.failure;
      }
      if (deadline.passed()) {
        throw deadline.exceeded("taking the input file " + path, e);
      }
      throw new SandboxException("runner put file failed: " + e.getMessage(), e);
    }
  }

  /** Remembers a failure of the stream being sent, to tell it apart from the runner's. */
  private static final class SourceStream extends FilterInputStream {
    private final CallDeadline deadline;
    IOException failure;

    SourceStream(InputStream in, CallDeadline deadline) {
      super(in);
      this.deadline = deadline;
    }

    /** Reads from the file store, where the runner's deadline interrupts nothing. */
    @Override
    public int read(byte[] b, int off, int len) throws IOException {
      deadline.offRunner();
      try {
        return super.read(b, off, len);
      } catch (IOException e) {
        failure = e;
        throw e;
      } finally {
        deadline.onRunner();
      }
    }
  }

  /**
   * Streams the workdir file whose encoded path is {@code ref} (the runner's {@code ref} of a
   * listed file, or {@link PathEncoding#encodePath}) to {@code reader}. {@code limit} bounds the
   * whole call, but for what {@code reader} does between its reads (the file store's time).
   *
   * @throws RunnerFileException the runner answered but cannot serve this file (gone, not a regular
   *     file, not readable, a bad ref), or its content broke off while being read
   * @throws SandboxException the runner could not be reached, or did not send the file within
   *     {@code limit}
   * @throws IOException from {@code reader}, other than reading the runner's answer
   */
  public <T> T readFile(String ref, Duration limit, FileReader<T> reader)
      throws RunnerFileException, SandboxException, IOException {
    if (!PathEncoding.isEncodedPath(ref)) {
      throw new RunnerFileException("not a valid encoded path");
    }
    CallDeadline deadline = new CallDeadline(limit);
    try (deadline) {
      return readFile(ref, limit, reader, deadline);
    } catch (RunnerFileException | SandboxException | IOException | RuntimeException e) {
      if (deadline.passed()) {
        throw deadline.exceeded("sending a file", e);
      }
      throw e;
    }
  }

  private <T> T readFile(String ref, Duration limit, FileReader<T> reader, CallDeadline deadline)
      throws RunnerFileException, SandboxException, IOException {
    HttpClientResponse res;
    try {
      res =
          http.get()
              .uri(fileUri(ref))
              .keepAlive(false)
              .header(HeaderNames.AUTHORIZATION, authorization)
              .readTimeout(limit)
              .request();
    } catch (RuntimeException e) {
      throw new SandboxException("runner read file failed: " + e.getMessage(), e);
    }
    try (res) {
      int status = res.status().code();
      if (status == 400 || status == 404) {
        throw new RunnerFileException(errorText(res));
      }
      if (status != 200) {
        throw new SandboxException("runner answered " + status + " to a file read");
      }
      try {
        // What the reader does with the bytes (the file store) is not waiting on the runner.
        // A file read whole and stored is kept, even if storing it outlasted the deadline.
        deadline.offRunner();
        T read;
        try {
          read = reader.read(new RunnerStream(res.inputStream(), deadline));
        } finally {
          deadline.backOnRunner();
        }
        return read;
      } catch (IOException | RuntimeException e) {
        if (causedBy(e, RunnerStream.Broken.class)) {
          throw new RunnerFileException("reading it broke off: " + e.getMessage());
        }
        if (e instanceof UncheckedIOException u) {
          throw u.getCause();
        }
        throw e;
      }
    }
  }

  /**
   * The request URI of a file: Helidon's {@code uri(String)} takes a string as decoded text and
   * encodes it again ({@code %20} went out as {@code %2520}), so the encoded path is set as a raw
   * {@link UriPath} and goes on the wire exactly as given.
   */
  private ClientUri fileUri(String encodedPath) {
    return ClientUri.create(
        UriInfo.builder(baseUri).path(UriPath.create("/files/" + encodedPath)).build());
  }

  /**
   * The most of a runner's text kept (its error answer, what it says of a file or of how a run
   * ended): it is shown to the user and logged.
   */
  public static final int MAX_RUNNER_TEXT = 1024;

  /** The runner's {@code {"error": ...}}, bounded: a file error is shown to the user. */
  private static String errorText(HttpClientResponse res) {
    try (InputStream in = res.inputStream()) {
      return errorText(in.readNBytes(MAX_RUNNER_TEXT));
    } catch (IOException | RuntimeException e) {
      return "(no message)";
    }
  }

  /** {@link #errorText(InputStream, byte[])} of an answer read in pieces. */
  private static String errorText(PaidRead body) {
    return errorText(body.stream(), body.prefix(MAX_RUNNER_TEXT));
  }

  private static String errorText(byte[] body) {
    return errorText(
        new ByteArrayInputStream(body),
        Arrays.copyOf(body, Math.min(body.length, MAX_RUNNER_TEXT)));
  }

  /**
   * The {@code error} of the JSON answer {@code json}, at most {@link #MAX_RUNNER_TEXT} characters,
   * else its first bytes, {@code prefix}, as text.
   */
  private static String errorText(InputStream json, byte[] prefix) {
    String error = errorOf(json);
    return error != null ? error : new String(prefix, StandardCharsets.UTF_8);
  }

  /**
   * The top-level {@code "error"} string of a runner's JSON answer {@code json}, at most {@link
   * #MAX_RUNNER_TEXT} characters; null when there is none (not JSON, not an object, no such
   * string). Read as a stream, up to that field: whatever else the answer holds is skipped without
   * being built (as a tree, {@code [{},{},...]} would cost ~25 times its bytes).
   */
  public static String errorOf(InputStream json) {
    try (JsonParser p = Json.MAPPER.getFactory().createParser(json)) {
      if (p.nextToken() != JsonToken.START_OBJECT) {
        return null;
      }
      while (p.nextToken() == JsonToken.FIELD_NAME) {
        String name = p.currentName();
        if (p.nextToken() == JsonToken.VALUE_STRING && "error".equals(name)) {
          String text = p.getText();
          // No marker: the caller's message is this text, as the runner put it, cut.
          return Texts.cut(text, MAX_RUNNER_TEXT, "");
        }
        p.skipChildren();
      }
    } catch (IOException | RuntimeException e) {
      // not JSON: no error to read
    }
    return null;
  }

  private static boolean causedBy(Throwable e, Class<? extends Throwable> type) {
    for (Throwable t = e; t != null; t = t.getCause()) {
      if (type.isInstance(t)) {
        return true;
      }
    }
    return false;
  }
}
