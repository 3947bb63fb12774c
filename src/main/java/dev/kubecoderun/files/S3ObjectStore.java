package dev.kubecoderun.files;

import dev.kubecoderun.config.Config;
import dev.kubecoderun.config.ConfigException;
import dev.kubecoderun.memory.Room;
import io.minio.BucketExistsArgs;
import io.minio.GetObjectArgs;
import io.minio.ListObjectsArgs;
import io.minio.MakeBucketArgs;
import io.minio.MinioClient;
import io.minio.PutObjectArgs;
import io.minio.RemoveObjectArgs;
import io.minio.Result;
import io.minio.credentials.IamAwsProvider;
import io.minio.errors.ErrorResponseException;
import io.minio.http.HttpUtils;
import io.minio.messages.Item;
import java.io.FilterInputStream;
import java.io.IOException;
import java.io.InputStream;
import java.io.UncheckedIOException;
import java.security.GeneralSecurityException;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Optional;
import java.util.Set;
import okhttp3.OkHttpClient;

/**
 * Objects in an S3-compatible bucket (MinIO, AWS S3, ...) through minio-java. Uploads are streamed
 * in parts of {@link #PART_SIZE}, so an upload needs one part of heap whatever its size; downloads
 * stream straight from the HTTP response. The bucket is created on first use.
 */
public final class S3ObjectStore implements ObjectStore {
  /** Multipart part size: the heap one upload needs (S3's minimum part is 5 MiB). */
  static final long PART_SIZE = 8L * 1024 * 1024;

  /**
   * What minio holds of a stream at most: its part buffer is a ByteArrayOutputStream, which holds
   * the old array and the new one, twice as large, while it grows to a part.
   */
  static final long PART_MEMORY = PART_SIZE * 3 / 2;

  /**
   * The memory a put of at most {@code maxBytes} reserves: a part, or for a smaller stream three
   * times its most (the buffer grows by doubling, the last copy holds both) and a little.
   */
  static long bufferBytes(long maxBytes) {
    return Math.min(PART_MEMORY, 3 * Math.max(0, maxBytes) + 64 * 1024);
  }

  private static final Set<String> MISSING = Set.of("NoSuchKey", "NoSuchBucket", "NoSuchObject");
  private static final Duration CONNECT_TIMEOUT = Duration.ofSeconds(10);
  private static final Duration IO_TIMEOUT = Duration.ofMinutes(2);

  private final MinioClient client;
  private final String bucket;
  private final String region;
  private volatile boolean bucketReady;

  public S3ObjectStore(MinioClient client, String bucket, String region) {
    this.client = client;
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
    MinioClient.Builder b =
        MinioClient.builder().endpoint(cfg.endpoint()).region(cfg.region()).httpClient(http);
    if (cfg.accessKey() != null && cfg.secretKey() != null) {
      b.credentials(cfg.accessKey(), cfg.secretKey());
    } else {
      // IRSA (AWS_WEB_IDENTITY_TOKEN_FILE + AWS_ROLE_ARN), ECS task role or EC2 instance profile.
      b.credentialsProvider(new IamAwsProvider(null, null));
    }
    MinioClient client = b.build();
    if (cfg.pathStyle()) {
      client.disableVirtualStyleEndpoint();
    }
    return new S3ObjectStore(client, cfg.bucket(), cfg.region());
  }

  @Override
  public long put(String key, InputStream in, long maxBytes, String contentType, Room room)
      throws IOException {
    ensureBucket();
    // Reserved here, before minio reads: minio reads the stream on a shared pool, where a wait for
    // room would hold a worker that the upload being waited for may need to finish.
    Room.Counted held = new Room.Counted(room);
    held.reserve(bufferBytes(maxBytes));
    LimitedStream limited = new LimitedStream(in, maxBytes);
    try {
      client.putObject(
          PutObjectArgs.builder().bucket(bucket).object(key).stream(limited, -1, PART_SIZE)
              .contentType(contentType == null ? "application/octet-stream" : contentType)
              .build());
    } catch (Exception e) {
      // A failure of the caller's stream is the caller's (too large, client gone); minio aborts
      // the multipart upload, so nothing is stored.
      if (limited.failure != null) {
        throw limited.failure;
      }
      throw unavailable("upload of " + key, e);
    } finally {
      held.giveBackAll();
    }
    return limited.count;
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

  /** Counts the bytes, stops past the limit, and remembers its own failure for put() to rethrow. */
  private static final class LimitedStream extends FilterInputStream {
    private final long max;
    long count;
    IOException failure;

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
      } catch (IOException e) {
        failure = e;
        throw e;
      } catch (RuntimeException e) {
        // The server's own stream of a client that went away (Helidon's InsufficientData...):
        // the caller's failure, not the store's (it would count as a store error).
        failure = new IOException("the upload's stream failed: " + e, e);
        throw failure;
      }
    }
  }
}
