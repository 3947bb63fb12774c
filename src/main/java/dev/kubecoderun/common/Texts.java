package dev.kubecoderun.common;

/** Text cut to a bound before it is shown: in an error message, a note, an answer's field. */
public final class Texts {
  private Texts() {}

  /**
   * {@code text} itself when at most {@code max} characters (null stays null); else its first
   * {@code max} characters and {@code marker}, which says it was cut ("" for nothing). Never half
   * of a character outside the BMP: the JSON answer would hold a lone surrogate, so such a
   * character at the bound is left out whole.
   */
  public static String cut(String text, int max, String marker) {
    if (text == null || text.length() <= max) {
      return text;
    }
    int end = max;
    if (end > 0 && Character.isHighSurrogate(text.charAt(end - 1))) {
      end--;
    }
    return text.substring(0, end) + marker;
  }
}
