package dev.kubecoderun.files;

import com.google.common.collect.ImmutableMultimap;
import com.google.common.collect.Multimap;
import dev.kubecoderun.config.Config;
import dev.kubecoderun.config.ConfigException;
import dev.kubecoderun.memory.Room;
import io.minio.BucketExistsArgs;
import io.minio.GetObjectArgs;
import io.minio.ListObjectsArgs;
import io.minio.MakeBucketArgs;
import io.minio.MinioAsyncClient;
import io.minio.MinioClient;
import io.minio.ObjectWriteResponse;
import io.minio.RemoveObjectArgs;
import io.minio.Result;
import io.minio.credentials.IamAwsProvider;
import io.minio.errors.ErrorResponseException;
import io.minio.http.HttpUtils;
import io.minio.messages.Item;
import io.minio.messages.Part;
import java.io.FilterInputStream;
import java.io.IOException;
import java.io.InputStream;
import java.io.UncheckedIOException;
import java.security.GeneralSecurityException;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Optional;
import java.util.Set;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionException;
import java.util.concurrent.ExecutionException;
import okhttp3.OkHttpClient;

/**
 * Objects in an S3-compatible bucket (MinIO, AWS S3, ...) through minio-java. An upload is read in
 * parts of {@link #PART_SIZE} into one buffer of ours, on the caller's thread, and minio is handed
 * only those bytes: a stream that ends within a part is one PUT, a longer one a multipart upload
 * (aborted on any failure, so nothing is left stored). minio runs its requests on shared pools
 * (ForkJoinPool.commonPool, okhttp's dispatcher): none of them ever waits for a client that sends
 * slowly. An upload needs about one part of heap whatever its size; downloads stream straight from
 * the HTTP response. The bucket is created on first use.
 */
public final class S3ObjectStore implements ObjectStore {
  /** Multipart part size (S3's minimum part is 5 MiB); a stream that fits in one is one PUT. */
  static final long PART_SIZE = 8L * 1024 * 1024;

  /** What an upload's buffer starts at; it grows by doubling up to a part. */
  private static final int FIRST_BUFFER = 64 * 1024;

  /**
   * What a put holds of a stream at most: its buffer, re-used part to part, which holds the old
   * array and the new one, twice as large, while it grows to a part (4 + 8 MiB). minio sends the
   * buffer as it is (a byte[] request body), with no copy of its own.
   */
  static final long PART_MEMORY = PART_SIZE * 3 / 2;

  /**
   * The memory a put of at most {@code maxBytes} reserves: {@link #PART_MEMORY}, or for a smaller
   * stream three times its most (the buffer grows by doubling, the last copy holds both) and a
   * little (the first buffer).
   */
  static long bufferBytes(long maxBytes) {
    return Math.min(PART_MEMORY, 3 * Math.clamp(maxBytes, 0, PART_MEMORY) + FIRST_BUFFER);
  }

  private static final Set<String> MISSING = Set.of("NoSuchKey", "NoSuchBucket", "NoSuchObject");
  private static final Duration CONNECT_TIMEOUT = Duration.ofSeconds(10);
  private static final Duration IO_TIMEOUT = Duration.ofMinutes(2);

  /** No extra headers or query parameters (minio copies what it is given before adding its own). */
  private static final Multimap<String, String> NONE = ImmutableMultimap.of();

  private final MinioClient client;
  private final Uploads uploads;
  private final String bucket;
  private final String region;
  private volatile boolean bucketReady;

  private S3ObjectStore(
      MinioClient client, MinioAsyncClient uploads, String bucket, String region) {
    this.client = client;
    this.uploads = new Uploads(uploads);
    this.bucket = bucket;
    this.region = region;
  }

  public static S3ObjectStore create(Config.S3 cfg) {
    OkHttpClient http =
        HttpUtils.newDefaultHttpClient(
            CONNECT_TIMEOUT.toMillis(), IO_TIMEOUT.toMillis(), IO_TIMEOUT.toMillis());
    if (cfg.caCerts() != null) {
      try {
        http = HttpUtils.enableExternalCertificates(http, cfg.caCerts().toString());
      } catch (GeneralSecurityException | IOException e) {
        throw new ConfigException(
            "MINIO_CA_CERTS=" + cfg.caCerts() + " cannot be used: " + e.getMessage());
      }
    }
    // Two clients on the same settings, the same okhttp client (one connection pool) and the same
    // credentials: the blocking one for all but uploads, the async one for an upload's steps.
    MinioClient.Builder b =
        MinioClient.builder().endpoint(cfg.endpoint()).region(cfg.region()).httpClient(http);
    MinioAsyncClient.Builder ab =
        MinioAsyncClient.builder().endpoint(cfg.endpoint()).region(cfg.region()).httpClient(http);
    if (cfg.accessKey() != null && cfg.secretKey() != null) {
      b.credentials(cfg.accessKey(), cfg.secretKey());
      ab.credentials(cfg.accessKey(), cfg.secretKey());
    } else {
      // IRSA (AWS_WEB_IDENTITY_TOKEN_FILE + AWS_ROLE_ARN), ECS task role or EC2 instance profile.
      IamAwsProvider iam = new IamAwsProvider(null, null);
      b.credentialsProvider(iam);
      ab.credentialsProvider(iam);
    }
    MinioClient client = b.build();
    MinioAsyncClient async = ab.build();
    if (cfg.pathStyle()) {
      client.disableVirtualStyleEndpoint();
      async.disableVirtualStyleEndpoint();
    }
    return new S3ObjectStore(client, async, cfg.bucket(), cfg.region());
  }

  @Override
  public long put(String key, InputStream in, long maxBytes, String contentType, Room room)
      throws IOException {
    ensureBucket();
    // Reserved before a byte is read, and covering all this put holds (its buffer; minio sends it
    // as it is).
    Room.Counted held = new Room.Counted(room);
    held.reserve(bufferBytes(maxBytes));
    try {
      LimitedStream limited = new LimitedStream(in, maxBytes);
      Multimap<String, String> headers =
          ImmutableMultimap.of(
              "Content-Type", contentType == null ? "application/octet-stream" : contentType);
      // The caller's stream is read here only, on the caller's thread: a failure of it (too
      // large, client gone) is an IOException, the store's an UncheckedIOException.
      // Under a smaller limit, a first buffer one byte past it: a stream of exactly maxBytes sees
      // its end without the buffer growing.
      PartBuffer buffer =
          new PartBuffer(maxBytes < FIRST_BUFFER ? (int) Math.max(0, maxBytes) + 1 : FIRST_BUFFER);
      buffer.fill(limited);
      int next = buffer.full() ? limited.read() : -1;
      if (next < 0) {
        await("upload of " + key, () -> uploads.put(bucket, region, key, buffer, headers));
      } else {
        putInParts(key, limited, buffer, next, headers);
      }
      return limited.count;
    } finally {
      held.giveBackAll();
    }
  }

  /**
   * A multipart upload of a stream longer than a part, whose first part is in {@code buffer} and
   * whose next byte is {@code next}; aborted on any failure, the caller's or the store's.
   */
  private void putInParts(
      String key,
      LimitedStream limited,
      PartBuffer buffer,
      int next,
      Multimap<String, String> headers)
      throws IOException {
    String what = "upload of " + key;
    String uploadId =
        await(what, () -> uploads.createMultipartUploadAsync(bucket, region, key, headers, NONE))
            .result()
            .uploadId();
    List<Part> sent = new ArrayList<>();
    try {
      while (true) {
        int number = sent.size() + 1;
        String etag =
            await(
                    what,
                    () ->
                        uploads.uploadPartAsync(
                            bucket,
                            region,
                            key,
                            buffer.bytes,
                            buffer.length,
                            uploadId,
                            number,
                            NONE,
                            NONE))
                .etag();
        sent.add(new Part(number, etag));
        if (!buffer.full()) {
          break;
        }
        buffer.length = 0;
        if (next >= 0) {
          buffer.bytes[buffer.length++] = (byte) next;
          next = -1;
        }
        buffer.fill(limited);
        if (buffer.length == 0) {
          break;
        }
      }
      Part[] parts = sent.toArray(new Part[0]);
      await(
          what,
          () ->
              uploads.completeMultipartUploadAsync(
                  bucket, region, key, uploadId, parts, NONE, NONE));
    } catch (IOException | RuntimeException | Error e) {
      try {
        await(
            "abort of " + what,
            () -> uploads.abortMultipartUploadAsync(bucket, region, key, uploadId, NONE, NONE));
      } catch (RuntimeException abortFailed) {
        e.addSuppressed(abortFailed);
      }
      throw e;
    }
  }

  /** One step of minio's, started and waited for on the caller's thread. */
  @FunctionalInterface
  private interface Step<T> {
    CompletableFuture<T> start() throws Exception;
  }

  /** Waits for a step of minio's: its failure, whatever its kind, is the store's. */
  private static <T> T await(String what, Step<T> step) {
    Throwable failure;
    try {
      return step.start().join();
    } catch (CompletionException e) {
      failure = e.getCause() == null ? e : e.getCause();
    } catch (Exception e) {
      failure = e;
    }
    while ((failure instanceof CompletionException || failure instanceof ExecutionException)
        && failure.getCause() != null) {
      failure = failure.getCause();
    }
    if (failure instanceof Exception e) {
      throw unavailable(what, e);
    }
    throw (Error) failure;
  }

  @Override
  public Optional<InputStream> open(String key) {
    return get(GetObjectArgs.builder().bucket(bucket).object(key).build(), key);
  }

  /** A ranged GET: S3 sends only the bytes asked for. */
  @Override
  public Optional<InputStream> open(String key, long offset, long length) {
    return get(
        GetObjectArgs.builder().bucket(bucket).object(key).offset(offset).length(length).build(),
        key);
  }

  private Optional<InputStream> get(GetObjectArgs args, String key) {
    try {
      return Optional.of(client.getObject(args));
    } catch (ErrorResponseException e) {
      if (MISSING.contains(e.errorResponse().code())) {
        return Optional.empty();
      }
      throw unavailable("download of " + key, e);
    } catch (Exception e) {
      throw unavailable("download of " + key, e);
    }
  }

  @Override
  public void delete(String key) {
    try {
      client.removeObject(RemoveObjectArgs.builder().bucket(bucket).object(key).build());
    } catch (ErrorResponseException e) {
      if (!MISSING.contains(e.errorResponse().code())) {
        throw unavailable("delete of " + key, e);
      }
    } catch (Exception e) {
      throw unavailable("delete of " + key, e);
    }
  }

  @Override
  public List<ObjectSummary> list(String prefix, String startAfter, int limit) {
    ListObjectsArgs.Builder args =
        ListObjectsArgs.builder()
            .bucket(bucket)
            .prefix(prefix)
            .recursive(true)
            .maxKeys(Math.min(limit, 1000));
    if (startAfter != null) {
      args.startAfter(startAfter);
    }
    List<ObjectSummary> out = new ArrayList<>();
    try {
      for (Result<Item> r : client.listObjects(args.build())) {
        Item item = r.get();
        out.add(new ObjectSummary(item.objectName(), item.size(), item.lastModified().toInstant()));
        if (out.size() >= limit) {
          break;
        }
      }
    } catch (ErrorResponseException e) {
      if (!"NoSuchBucket".equals(e.errorResponse().code())) {
        throw unavailable("listing of " + prefix, e);
      }
    } catch (Exception e) {
      throw unavailable("listing of " + prefix, e);
    }
    return out;
  }

  /** Creates the bucket once; two replicas racing to create it both succeed. */
  private void ensureBucket() {
    if (bucketReady) {
      return;
    }
    synchronized (this) {
      if (bucketReady) {
        return;
      }
      try {
        if (!client.bucketExists(BucketExistsArgs.builder().bucket(bucket).build())) {
          client.makeBucket(MakeBucketArgs.builder().bucket(bucket).region(region).build());
        }
      } catch (ErrorResponseException e) {
        String code = e.errorResponse().code();
        if (!code.equals("BucketAlreadyOwnedByYou") && !code.equals("BucketAlreadyExists")) {
          throw unavailable("creation of bucket " + bucket, e);
        }
      } catch (Exception e) {
        throw unavailable("creation of bucket " + bucket, e);
      }
      bucketReady = true;
    }
  }

  private static UncheckedIOException unavailable(String what, Exception e) {
    if (e instanceof InterruptedException) {
      Thread.currentThread().interrupt();
    }
    IOException cause = e instanceof IOException io ? io : new IOException(e.getMessage(), e);
    return new UncheckedIOException("S3 " + what + " failed: " + e.getMessage(), cause);
  }

  /**
   * The bytes of one part, read on the caller's thread: an array that grows by doubling up to
   * {@link #PART_SIZE}, then is re-used part to part.
   */
  private static final class PartBuffer {
    byte[] bytes;
    int length;

    PartBuffer(int first) {
      bytes = new byte[first];
    }

    /** Reads until the part is full or the stream ends. */
    void fill(InputStream in) throws IOException {
      while (!full()) {
        if (length == bytes.length) {
          bytes = Arrays.copyOf(bytes, (int) Math.min(PART_SIZE, 2L * bytes.length));
        }
        int n = in.read(bytes, length, bytes.length - length);
        if (n < 0) {
          return;
        }
        length += n;
      }
    }

    boolean full() {
      return length == PART_SIZE;
    }
  }

  /**
   * minio's async client, and its one PUT of bytes in memory. (minio's clients are AutoCloseable,
   * with a close() that may throw InterruptedException; this one is never closed, like the other.)
   */
  @SuppressWarnings("try")
  private static final class Uploads extends MinioAsyncClient {
    Uploads(MinioAsyncClient client) {
      super(client);
    }

    /**
     * One PUT of the bytes of {@code part}, which minio sends from the array as it is (minio's
     * public putObject takes a stream, which it would copy into a buffer of its own, on its pool).
     */
    CompletableFuture<ObjectWriteResponse> put(
        String bucket, String region, String key, PartBuffer part, Multimap<String, String> headers)
        throws Exception {
      return putObjectAsync(bucket, region, key, part.bytes, part.length, headers, NONE);
    }
  }

  /**
   * Counts the bytes and stops past the limit; a failure of the stream it reads is an IOException,
   * whatever its kind.
   */
  private static final class LimitedStream extends FilterInputStream {
    private final long max;
    long count;

    LimitedStream(InputStream in, long max) {
      super(in);
      this.max = max;
    }

    @Override
    public int read() throws IOException {
      byte[] one = new byte[1];
      int n = read(one, 0, 1);
      return n < 0 ? -1 : one[0] & 0xff;
    }

    @Override
    public int read(byte[] b, int off, int len) throws IOException {
      try {
        int n = super.read(b, off, len);
        if (n > 0) {
          count += n;
          if (count > max) {
            throw new TooLargeException(max);
          }
        }
        return n;
      } catch (UncheckedIOException e) {
        // The caller's stream, not the store: an UncheckedIOException would count as a store
        // error. Its other failures (a client gone: Helidon's InsufficientData..., a malformed
        // multipart body: an ApiError) go up as they are, for the API's handlers of each.
        throw e.getCause();
      }
    }
  }
}
