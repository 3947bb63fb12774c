package dev.kubecoderun.session;

import java.security.SecureRandom;
import java.util.regex.Pattern;

/**
 * 21-character ids ({@code [A-Za-z0-9_-]}, first and last alphanumeric so they are valid Kubernetes
 * label values), as LibreChat expects.
 */
public final class Ids {
  private static final String ALNUM =
      "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
  private static final String ALPHABET = ALNUM + "_-";
  private static final Pattern VALID = Pattern.compile("[A-Za-z0-9_-]{1,64}");
  private static final Pattern ENTITY = Pattern.compile("[A-Za-z0-9_-]{1,40}");
  private static final SecureRandom RANDOM = new SecureRandom();

  private Ids() {}

  public static String next() {
    char[] id = new char[21];
    id[0] = ALNUM.charAt(RANDOM.nextInt(ALNUM.length()));
    for (int i = 1; i < 20; i++) {
      id[i] = ALPHABET.charAt(RANDOM.nextInt(ALPHABET.length()));
    }
    id[20] = ALNUM.charAt(RANDOM.nextInt(ALNUM.length()));
    return new String(id);
  }

  /**
   * Ids from clients: the same alphabet, so they are safe in storage keys and paths. Not {@link
   * #RESERVED}: the reference's Redis layout keeps the set of all sessions at {@code
   * sessions:index}, beside each session's {@code sessions:<id>}.
   */
  public static boolean isValid(String id) {
    return id != null && VALID.matcher(id).matches() && !RESERVED.equals(id);
  }

  /** The one id of the alphabet no client may name (never made: ours have 21 characters). */
  public static final String RESERVED = "index";

  /** The most characters of a LibreChat user id ({@link #isValidUser}). */
  public static final int MAX_USER_ID_CHARS = 256;

  /**
   * LibreChat's user ids ({@code user_id}, the {@code User-Id} header of an upload): a MongoDB
   * ObjectId (24 hex digits) in LibreChat, any other host's own ids elsewhere, so any text, but at
   * most {@link #MAX_USER_ID_CHARS} characters and none a control character: a session keeps its
   * user's id for as long as it lives (in Redis, in its metadata), and a log or the admin pages may
   * show it.
   */
  public static boolean isValidUser(String id) {
    if (id == null || id.isEmpty() || id.length() > MAX_USER_ID_CHARS) {
      return false;
    }
    return id.chars().noneMatch(Character::isISOControl);
  }

  /**
   * Entity ids (an agent's or assistant's) from clients: they are parts of storage keys, where a
   * {@code :} could name another principal's keys.
   */
  public static boolean isValidEntity(String id) {
    return id != null && ENTITY.matcher(id).matches();
  }
}
