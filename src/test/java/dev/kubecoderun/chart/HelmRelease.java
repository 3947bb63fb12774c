package dev.kubecoderun.chart;

import com.marcnuri.helm.Helm;
import com.marcnuri.helm.Release;
import java.nio.file.Files;
import java.nio.file.Path;

/**
 * {@code helm install}, {@code upgrade} and {@code uninstall} with helm-java, in a JVM of its own
 * whose KUBECONFIG names the cluster (Helm's Go code reads it from the environment it started with;
 * see {@link HelmRender}).
 *
 * <p>Arguments: {@code install|upgrade|uninstall CHART_DIR RELEASE NAMESPACE VALUES_FILE RESULT}.
 * Writes the release status to RESULT, or the error to RESULT.err and exits 1.
 */
public final class HelmRelease {
  private HelmRelease() {}

  public static void main(String[] args) throws Exception {
    String action = args[0];
    Path chart = Path.of(args[1]);
    String release = args[2];
    String namespace = args[3];
    Path values = Path.of(args[4]);
    Path result = Path.of(args[5]);
    try {
      String status =
          switch (action) {
            case "install" ->
                describe(
                    new Helm(chart)
                        .install()
                        .withName(release)
                        .withNamespace(namespace)
                        .withValuesFile(values)
                        .call());
            case "upgrade" ->
                describe(
                    new Helm(chart)
                        .upgrade()
                        .withName(release)
                        .withNamespace(namespace)
                        .withValuesFile(values)
                        .call());
            case "uninstall" -> Helm.uninstall(release).withNamespace(namespace).call();
            default -> throw new IllegalArgumentException("unknown action " + action);
          };
      Files.writeString(result, status);
    } catch (RuntimeException e) {
      Files.writeString(Path.of(result + ".err"), String.valueOf(e.getMessage()));
      System.exit(1);
    }
  }

  private static String describe(Release r) {
    return r.getName() + " " + r.getStatus() + " revision " + r.getRevision();
  }
}
