package dev.kubecoderun.auth;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.GeneralSecurityException;
import java.security.KeyFactory;
import java.security.PublicKey;
import java.security.interfaces.EdECPublicKey;
import java.security.interfaces.RSAPublicKey;
import java.security.spec.X509EncodedKeySpec;
import java.time.Duration;
import java.util.Base64;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.logging.Logger;
import java.util.stream.Stream;
import org.jose4j.jwk.JsonWebKey;
import org.jose4j.jwk.JsonWebKeySet;
import org.jose4j.jwk.PublicJsonWebKey;
import org.jose4j.lang.JoseException;

/**
 * The public keys LibreChat's tokens are checked with, by key id ({@code kid}), from any of: a PEM
 * (or JWK) in CODEAPI_JWT_PUBLIC_KEY, the same base64-encoded in CODEAPI_JWT_PUBLIC_KEY_BASE64, a
 * JWKS inline (CODEAPI_JWT_JWKS_JSON) or in a file (CODEAPI_JWT_JWKS_FILE), and a directory of
 * {@code <kid>.pem} files (CODEAPI_JWT_PUBLIC_KEYS_DIR). Files are read again every {@code reload},
 * so a key rotated in a mounted Secret is picked up without a restart; a reload that fails keeps
 * the keys that worked. Only Ed25519 and RSA keys are accepted.
 */
public final class JwtKeys {
  private static final Logger LOG = Logger.getLogger(JwtKeys.class.getName());

  /** Where the keys come from; null fields are unset. {@code kid} names the single PEM key. */
  public record Sources(
      String pem,
      String pemBase64,
      String kid,
      String jwksJson,
      Path jwksFile,
      Path keysDir,
      Duration reload) {
    public boolean any() {
      return pem != null
          || pemBase64 != null
          || jwksJson != null
          || jwksFile != null
          || keysDir != null;
    }
  }

  /** Keys by kid; {@code unnamed} are keys without one, tried for a kid nobody else has. */
  private record Loaded(Map<String, PublicKey> named, List<PublicKey> unnamed, long reloadAt) {}

  private final Sources sources;
  private volatile Loaded loaded;

  private JwtKeys(Sources sources, Loaded loaded) {
    this.sources = sources;
    this.loaded = loaded;
  }

  /**
   * Reads every configured source.
   *
   * @throws IllegalArgumentException naming the setting that holds no usable key
   */
  public static JwtKeys load(Sources sources) {
    return new JwtKeys(sources, read(sources, null));
  }

  /** The key for a token's kid (null: the token has none), or null when no key fits. */
  public PublicKey find(String kid) {
    Loaded l = current();
    if (kid != null && l.named().containsKey(kid)) {
      return l.named().get(kid);
    }
    if (l.unnamed().size() == 1) {
      return l.unnamed().getFirst();
    }
    if (kid == null && l.unnamed().isEmpty() && l.named().size() == 1) {
      return l.named().values().iterator().next();
    }
    return null;
  }

  private Loaded current() {
    Loaded l = loaded;
    if (l.reloadAt() == Long.MAX_VALUE || System.nanoTime() - l.reloadAt() < 0) {
      return l;
    }
    synchronized (this) {
      if (loaded != l) {
        return loaded;
      }
      try {
        loaded = read(sources, l);
      } catch (IllegalArgumentException e) {
        LOG.warning("JWT keys not reloaded, keeping the previous ones: " + e.getMessage());
        loaded = new Loaded(l.named(), l.unnamed(), System.nanoTime() + sources.reload().toNanos());
      }
      return loaded;
    }
  }

  /** {@code previous}: the keys loaded before (a reload), null at the start. */
  private static Loaded read(Sources s, Loaded previous) {
    Map<String, PublicKey> named = new HashMap<>();
    List<PublicKey> unnamed = new java.util.ArrayList<>();
    if (s.jwksJson() != null) {
      addJwks(named, unnamed, s.jwksJson(), "CODEAPI_JWT_JWKS_JSON");
    }
    if (s.jwksFile() != null) {
      addJwks(
          named, unnamed, readFile(s.jwksFile(), "CODEAPI_JWT_JWKS_FILE"), "CODEAPI_JWT_JWKS_FILE");
    }
    if (s.keysDir() != null) {
      addDir(named, s.keysDir(), previous);
    }
    String pem = s.pem();
    String setting = "CODEAPI_JWT_PUBLIC_KEY";
    if (pem == null && s.pemBase64() != null) {
      setting = "CODEAPI_JWT_PUBLIC_KEY_BASE64";
      try {
        pem = new String(Base64.getMimeDecoder().decode(s.pemBase64()), StandardCharsets.UTF_8);
      } catch (IllegalArgumentException e) {
        throw new IllegalArgumentException(setting + " is not base64");
      }
    }
    if (pem != null) {
      PublicKey key = parseKey(pem, setting);
      if (s.kid() != null) {
        named.put(s.kid(), key);
      } else {
        unnamed.add(key);
      }
    }
    if (named.isEmpty() && unnamed.isEmpty()) {
      throw new IllegalArgumentException(
          "no JWT verification key found in the CODEAPI_JWT_* settings");
    }
    boolean files = s.jwksFile() != null || s.keysDir() != null;
    long reloadAt = files ? System.nanoTime() + s.reload().toNanos() : Long.MAX_VALUE;
    return new Loaded(Map.copyOf(named), List.copyOf(unnamed), reloadAt);
  }

  private static void addJwks(
      Map<String, PublicKey> named, List<PublicKey> unnamed, String json, String setting) {
    List<JsonWebKey> keys;
    try {
      keys = new JsonWebKeySet(json).getJsonWebKeys();
    } catch (JoseException | RuntimeException e) {
      throw new IllegalArgumentException(setting + " is not a JWKS ({\"keys\": [...]})");
    }
    for (JsonWebKey jwk : keys) {
      if (!(jwk instanceof PublicJsonWebKey p) || p.getPublicKey() == null) {
        throw new IllegalArgumentException(
            setting + ": key " + jwk.getKeyId() + " is not a public key");
      }
      PublicKey key = checkType(p.getPublicKey(), setting + " key " + jwk.getKeyId());
      if (jwk.getKeyId() == null) {
        unnamed.add(key);
      } else {
        named.put(jwk.getKeyId(), key);
      }
    }
  }

  /**
   * Each regular file is one key, named by the file name without its extension. On a reload, a file
   * that cannot be used keeps its kid's previous key (and is logged) while the others are read as
   * they are: a key whose file was removed is gone even when another file breaks at the same time.
   */
  private static void addDir(Map<String, PublicKey> named, Path dir, Loaded previous) {
    if (!Files.isDirectory(dir)) {
      throw new IllegalArgumentException(
          "CODEAPI_JWT_PUBLIC_KEYS_DIR=" + dir + " is not a directory");
    }
    try (Stream<Path> files = Files.list(dir)) {
      for (Path f : files.sorted().toList()) {
        String name = f.getFileName().toString();
        if (name.startsWith(".") || !Files.isRegularFile(f)) {
          continue; // Kubernetes Secret mounts add ..data links and dot-directories
        }
        String kid = name.contains(".") ? name.substring(0, name.lastIndexOf('.')) : name;
        try {
          named.put(
              kid,
              parseKey(
                  readFile(f, "CODEAPI_JWT_PUBLIC_KEYS_DIR"),
                  "CODEAPI_JWT_PUBLIC_KEYS_DIR " + name));
        } catch (IllegalArgumentException e) {
          if (previous == null) {
            throw e;
          }
          PublicKey kept = previous.named().get(kid);
          LOG.warning(
              e.getMessage() + (kept != null ? ": its previous key kept" : ": no key for " + kid));
          if (kept != null) {
            named.put(kid, kept);
          }
        }
      }
    } catch (IOException e) {
      throw new IllegalArgumentException("CODEAPI_JWT_PUBLIC_KEYS_DIR=" + dir + " cannot be read");
    }
  }

  private static String readFile(Path f, String setting) {
    try {
      return Files.readString(f, StandardCharsets.UTF_8);
    } catch (IOException e) {
      throw new IllegalArgumentException(setting + ": cannot read " + f);
    }
  }

  /** A PEM public key (SPKI, "BEGIN PUBLIC KEY"), or a JWK as JSON. */
  static PublicKey parseKey(String text, String setting) {
    String t = text.replace("\\n", "\n").trim();
    if (t.startsWith("{")) {
      try {
        if (JsonWebKey.Factory.newJwk(t) instanceof PublicJsonWebKey p
            && p.getPublicKey() != null) {
          return checkType(p.getPublicKey(), setting);
        }
      } catch (JoseException | RuntimeException e) {
        // reported below
      }
      throw new IllegalArgumentException(setting + " is not a public JWK");
    }
    if (!t.contains("-----BEGIN PUBLIC KEY-----")) {
      throw new IllegalArgumentException(
          setting + " is not a PEM public key (-----BEGIN PUBLIC KEY-----)");
    }
    String body =
        t.substring(t.indexOf("-----BEGIN PUBLIC KEY-----") + 26)
            .replaceAll("-----END PUBLIC KEY-----[\\s\\S]*", "")
            .replaceAll("\\s", "");
    byte[] der;
    try {
      der = Base64.getDecoder().decode(body);
    } catch (IllegalArgumentException e) {
      throw new IllegalArgumentException(setting + " is not a PEM public key (bad base64)");
    }
    for (String algorithm : List.of("Ed25519", "RSA")) {
      try {
        return checkType(
            KeyFactory.getInstance(algorithm).generatePublic(new X509EncodedKeySpec(der)), setting);
      } catch (GeneralSecurityException e) {
        // try the next type
      }
    }
    throw new IllegalArgumentException(setting + " is neither an Ed25519 nor an RSA public key");
  }

  private static PublicKey checkType(PublicKey key, String setting) {
    if (key instanceof RSAPublicKey rsa) {
      if (rsa.getModulus().bitLength() < 2048) {
        throw new IllegalArgumentException(setting + ": RSA keys must have at least 2048 bits");
      }
      return key;
    }
    if (key instanceof EdECPublicKey ed && ed.getParams().getName().equals("Ed25519")) {
      return key;
    }
    throw new IllegalArgumentException(setting + ": only Ed25519 and RSA keys are accepted");
  }
}
