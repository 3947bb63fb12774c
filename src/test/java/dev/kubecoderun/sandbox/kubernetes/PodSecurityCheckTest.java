package dev.kubecoderun.sandbox.kubernetes;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import dev.kubecoderun.common.Json;
import dev.kubecoderun.config.Config;
import dev.kubecoderun.sandbox.RunnerSettings;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CopyOnWriteArrayList;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

/**
 * The start-up check's pod_security finding: whether the API server refuses, in the sandboxes'
 * namespace, a pod that breaks the Pod Security Standard "restricted", asked as a dry run (nothing
 * is created). The API server here is a stand-in that answers as the test says;
 * KubernetesBackendTest sees the real one refuse it in its namespace labelled restricted.
 */
class PodSecurityCheckTest {
  private StandInApiServer apiServer;
  private volatile int status;
  private volatile String answer;
  private final List<String> requests = new CopyOnWriteArrayList<>();
  private final List<JsonNode> bodies = new CopyOnWriteArrayList<>();
  private SandboxObjects objects;
  private PodSpecs specs;

  @BeforeEach
  void startApiServer() throws Exception {
    apiServer =
        StandInApiServer.start(
            exchange -> {
              requests.add(
                  exchange.getRequestMethod()
                      + " "
                      + exchange.getRequestURI().getPath()
                      + "?"
                      + exchange.getRequestURI().getQuery());
              bodies.add(Json.tree(exchange.getRequestBody().readAllBytes()));
              StandInApiServer.reply(exchange, status, answer);
            });
    objects = new SandboxObjects(apiServer.client(), "kcr-sandboxes");
    specs =
        new PodSpecs(
            Config.from(
                    Map.of(
                        "API_KEY", "k".repeat(20),
                        "SANDBOX_BACKEND", "kubernetes",
                        "K8S_NAMESPACE", "kcr-sandboxes"))
                .kubernetes(),
            new RunnerSettings(Duration.ofSeconds(30), 30_000, 1 << 20, 1 << 20, ""));
  }

  @AfterEach
  void stopApiServer() {
    apiServer.close();
  }

  @Test
  void aNamespaceThatRefusesAnUnhardenedPodIsReportedEnforced() {
    status = 403;
    answer =
        StandInApiServer.failure(
            403,
            "pods \"kcr-pss-check-1\" is forbidden: violates PodSecurity \"restricted:latest\":"
                + " allowPrivilegeEscalation != false");
    String finding = IsolationProbe.podSecurity(objects, specs);
    assertTrue(
        finding.startsWith(
            "enforced: a pod that breaks the Pod Security Standard restricted is refused in"
                + " namespace kcr-sandboxes (403 pods \"kcr-pss-check-"),
        finding);
    assertTrue(finding.contains("violates PodSecurity"), finding);
    // Asked as a dry run, in the sandboxes' namespace, of a pod with no hardening at all.
    assertEquals(List.of("POST /api/v1/namespaces/kcr-sandboxes/pods?dryRun=All"), requests);
    JsonNode container = bodies.getFirst().at("/spec/containers/0");
    assertTrue(container.path("securityContext").isMissingNode(), container.toString());
    assertTrue(
        bodies.getFirst().at("/spec/securityContext").isMissingNode(),
        bodies.getFirst().toString());
  }

  @Test
  void aNamespaceThatAcceptsItIsReportedNotEnforced() {
    status = 201;
    answer = "{\"apiVersion\":\"v1\",\"kind\":\"Pod\",\"metadata\":{\"name\":\"kcr-pss-check-1\"}}";
    String finding = IsolationProbe.podSecurity(objects, specs);
    assertTrue(
        finding.startsWith(
            "NOT enforced: the API server accepts a pod that breaks the Pod Security Standard"
                + " restricted in namespace kcr-sandboxes (a dry run): label it"
                + " pod-security.kubernetes.io/enforce=restricted"),
        finding);
  }

  /** A refusal from elsewhere (here a webhook that takes no dry runs) is not taken for it. */
  @Test
  void aRefusalThatIsNotPodSecuritysIsReportedAsSuch() {
    status = 400;
    answer =
        StandInApiServer.failure(
            400, "admission webhook \"audit.example\" does not support dry run");
    String finding = IsolationProbe.podSecurity(objects, specs);
    assertTrue(
        finding.startsWith("refused, though not by Pod Security admission: ")
            && finding.contains("does not support dry run"),
        finding);
  }

  /** A policy engine's refusal that only names Pod Security is not Pod Security admission's. */
  @Test
  void aWebhookMessageNamingPodSecurityIsNotTakenForIt() {
    status = 403;
    answer =
        StandInApiServer.failure(
            403,
            "admission webhook \"policy.example\" denied the request: PodSecurity labels are"
                + " managed by the platform team");
    String finding = IsolationProbe.podSecurity(objects, specs);
    assertTrue(finding.startsWith("refused, though not by Pod Security admission: "), finding);
  }

  @Test
  void noAnswerOnThePodIsNotChecked() {
    status = 503;
    answer = StandInApiServer.failure(503);
    assertTrue(
        IsolationProbe.podSecurity(objects, specs).startsWith("not checked: 503 "),
        IsolationProbe.podSecurity(objects, specs));
  }
}
