package dev.kubecoderun.redis;

import dev.kubecoderun.config.Config;
import dev.kubecoderun.config.ConfigException;
import java.io.ByteArrayInputStream;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.InputStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.GeneralSecurityException;
import java.security.KeyFactory;
import java.security.KeyStore;
import java.security.PrivateKey;
import java.security.cert.Certificate;
import java.security.cert.CertificateFactory;
import java.security.spec.PKCS8EncodedKeySpec;
import java.util.Base64;
import java.util.Collection;
import redis.clients.jedis.SslOptions;
import redis.clients.jedis.SslVerifyMode;

/**
 * Jedis TLS options from PEM files, as Redis operators have them: a CA bundle to trust (else the
 * JDK's CAs) and optionally a client certificate and key (PKCS#8, or PKCS#1 RSA). The PEM contents
 * become in-memory PKCS#12 stores, the form jedis reads.
 */
public final class PemTls {
  private static final char[] NO_PASSWORD = "kubecoderun".toCharArray();

  private PemTls() {}

  /** A file that cannot be read or used is a {@link ConfigException} naming its setting. */
  public static SslOptions sslOptions(Config.Tls tls) {
    String setting = "REDIS_SSL_CA_CERTS";
    Path file = tls.caCerts();
    try {
      SslOptions.Builder b =
          SslOptions.builder()
              .sslVerifyMode(tls.checkHostname() ? SslVerifyMode.FULL : SslVerifyMode.CA);
      if (tls.caCerts() != null) {
        KeyStore trust = emptyStore();
        int i = 0;
        for (Certificate c : certificates(tls.caCerts())) {
          trust.setCertificateEntry("ca-" + i++, c);
        }
        b.trustStoreType("PKCS12").truststore(resource(trust), NO_PASSWORD);
      }
      if (tls.certFile() != null) {
        setting = "REDIS_SSL_KEYFILE";
        file = tls.keyFile();
        PrivateKey key = privateKey(file);
        setting = "REDIS_SSL_CERTFILE";
        file = tls.certFile();
        KeyStore identity = emptyStore();
        identity.setKeyEntry(
            "client", key, NO_PASSWORD, certificates(file).toArray(new Certificate[0]));
        b.keyStoreType("PKCS12").keystore(resource(identity), NO_PASSWORD);
      }
      return b.build();
    } catch (IOException | GeneralSecurityException e) {
      throw new ConfigException(setting + "=" + file + " cannot be used: " + e);
    }
  }

  private static SslOptions.Resource resource(KeyStore store)
      throws IOException, GeneralSecurityException {
    ByteArrayOutputStream out = new ByteArrayOutputStream();
    store.store(out, NO_PASSWORD);
    byte[] bytes = out.toByteArray();
    return () -> new ByteArrayInputStream(bytes);
  }

  private static KeyStore emptyStore() throws IOException, GeneralSecurityException {
    KeyStore ks = KeyStore.getInstance("PKCS12");
    ks.load(null, null);
    return ks;
  }

  private static Collection<? extends Certificate> certificates(Path pem)
      throws IOException, GeneralSecurityException {
    try (InputStream in = Files.newInputStream(pem)) {
      Collection<? extends Certificate> certs =
          CertificateFactory.getInstance("X.509").generateCertificates(in);
      if (certs.isEmpty()) {
        throw new GeneralSecurityException("no certificate in " + pem);
      }
      return certs;
    }
  }

  static PrivateKey privateKey(Path pem) throws IOException, GeneralSecurityException {
    String text = Files.readString(pem, StandardCharsets.US_ASCII);
    boolean pkcs1 = text.contains("BEGIN RSA PRIVATE KEY");
    if (!pkcs1 && !text.contains("BEGIN PRIVATE KEY")) {
      throw new GeneralSecurityException(
          pem
              + ": expected a PKCS#8 'BEGIN PRIVATE KEY' (convert with openssl pkcs8 -topk8"
              + " -nocrypt) or an RSA key");
    }
    String body = text.replaceAll("-----[A-Z ]+-----", "").replaceAll("\\s", "");
    byte[] der = Base64.getDecoder().decode(body);
    if (pkcs1) {
      return KeyFactory.getInstance("RSA").generatePrivate(new PKCS8EncodedKeySpec(wrapRsa(der)));
    }
    for (String alg : new String[] {"RSA", "EC", "Ed25519"}) {
      try {
        return KeyFactory.getInstance(alg).generatePrivate(new PKCS8EncodedKeySpec(der));
      } catch (GeneralSecurityException e) {
        // try the next algorithm
      }
    }
    throw new GeneralSecurityException(pem + ": unsupported private key algorithm");
  }

  /** PKCS#1 RSAPrivateKey inside a PKCS#8 PrivateKeyInfo, which is what the JDK reads. */
  private static byte[] wrapRsa(byte[] pkcs1) {
    byte[] algorithm = {
      0x30,
      0x0d,
      0x06,
      0x09,
      0x2a,
      (byte) 0x86,
      0x48,
      (byte) 0x86,
      (byte) 0xf7,
      0x0d,
      0x01,
      0x01,
      0x01,
      0x05,
      0x00
    };
    byte[] version = {0x02, 0x01, 0x00};
    byte[] octets = der(0x04, pkcs1);
    byte[] inner = new byte[version.length + algorithm.length + octets.length];
    System.arraycopy(version, 0, inner, 0, version.length);
    System.arraycopy(algorithm, 0, inner, version.length, algorithm.length);
    System.arraycopy(octets, 0, inner, version.length + algorithm.length, octets.length);
    return der(0x30, inner);
  }

  private static byte[] der(int tag, byte[] content) {
    int n = content.length;
    byte[] len;
    if (n < 0x80) {
      len = new byte[] {(byte) n};
    } else if (n < 0x100) {
      len = new byte[] {(byte) 0x81, (byte) n};
    } else if (n < 0x10000) {
      len = new byte[] {(byte) 0x82, (byte) (n >> 8), (byte) n};
    } else {
      len = new byte[] {(byte) 0x83, (byte) (n >> 16), (byte) (n >> 8), (byte) n};
    }
    byte[] out = new byte[1 + len.length + n];
    out[0] = (byte) tag;
    System.arraycopy(len, 0, out, 1, len.length);
    System.arraycopy(content, 0, out, 1 + len.length, n);
    return out;
  }
}
