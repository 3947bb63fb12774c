package dev.kubecoderun.chart;

import com.marcnuri.helm.Helm;
import com.marcnuri.helm.LintResult;
import java.nio.file.Files;
import java.nio.file.Path;

/**
 * Renders the chart with helm-java, in a JVM of its own started by {@link ChartTest}: Helm's Go
 * code reads KUBECONFIG from the environment the process started with, and helm-java's template
 * resolves {@code lookup} against a cluster (it renders with dry-run "none"), so the test starts
 * this with KUBECONFIG pointing at its fake API server, never at a real cluster.
 *
 * <p>Arguments: the chart directory and a work directory holding {@code jobs.txt} (lines {@code id
 * namespace}) and {@code <id>.yaml} values files. Writes {@code <id>.out} (the manifests) or {@code
 * <id>.err} (the error), and {@code lint.out}.
 */
public final class HelmRender {
  private HelmRender() {}

  public static void main(String[] args) throws Exception {
    Path chart = Path.of(args[0]);
    Path work = Path.of(args[1]);
    for (String line : Files.readAllLines(work.resolve("jobs.txt"))) {
      String[] job = line.split(" ");
      try {
        String manifests =
            new Helm(chart)
                .template()
                .withName(ChartTest.RELEASE)
                .withNamespace(job[1])
                // helm-java's default capabilities say Kubernetes 1.20, below the chart's
                // kubeVersion.
                .withKubeVersion("1.31.0")
                .withValuesFile(work.resolve(job[0] + ".yaml"))
                .call();
        Files.writeString(work.resolve(job[0] + ".out"), manifests);
      } catch (RuntimeException e) {
        Files.writeString(work.resolve(job[0] + ".err"), String.valueOf(e.getMessage()));
      }
    }
    LintResult lint = new Helm(chart).lint().strict().call();
    Files.writeString(
        work.resolve("lint.out"),
        (lint.isFailed() ? "FAILED" : "OK") + "\n" + String.join("\n", lint.getMessages()));
  }
}
