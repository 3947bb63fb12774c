package dev.kubecoderun.api;

import static org.junit.jupiter.api.Assertions.assertEquals;

import com.fasterxml.jackson.databind.JsonNode;
import dev.kubecoderun.testing.OpenApiContract;
import java.util.Set;
import java.util.TreeSet;
import org.junit.jupiter.api.Test;

/**
 * GET /openapi.json describes exactly the routes the server answers: the services' own routes (as
 * the server registers them) against the document's operations, both ways.
 */
class OpenApiRoutesTest {
  private final Routes routes = RoutesTest.ofTheRealServices();

  @Test
  void everyRouteIsDocumentedAndEveryDocumentedRouteExists() {
    assertEquals(0, routes.untemplated(), "every route is registered by method and path");
    Set<String> served = new TreeSet<>(routes.templates());
    Set<String> documented = OpenApiContract.shared().routes();
    Set<String> undocumented = new TreeSet<>(served);
    undocumented.removeAll(documented);
    Set<String> missing = new TreeSet<>(documented);
    missing.removeAll(served);
    assertEquals(Set.of(), undocumented, "routes the server answers that the document lacks");
    assertEquals(Set.of(), missing, "documented routes the server does not answer");
  }

  /**
   * ProfileFilter refuses a request that expects another profile on every route, before any
   * handler: every operation lists that 409 (or a default error answer).
   */
  @Test
  void everyOperationDocumentsTheProfileRefusal() {
    Set<String> without = new TreeSet<>();
    operations(
        (route, op) -> {
          JsonNode responses = op.get("responses");
          if (!responses.has("409") && !responses.has("default")) {
            without.add(route);
          }
        });
    assertEquals(Set.of(), without, "operations without a 409 or a default answer");
  }

  /**
   * The master key is read as every credential is (HeaderCredential): X-API-Key, Authorization
   * Bearer or ApiKey. Every operation that takes it lists the three.
   */
  @Test
  void everyOperationOfTheMasterKeyListsEachWayToSendIt() {
    Set<String> incomplete = new TreeSet<>();
    operations(
        (route, op) -> {
          Set<String> schemes = new TreeSet<>();
          op.path("security").forEach(s -> s.fieldNames().forEachRemaining(schemes::add));
          if (schemes.contains("MasterKey")
              && !schemes.containsAll(Set.of("MasterBearer", "MasterApiKey"))) {
            incomplete.add(route + " " + schemes);
          }
        });
    assertEquals(Set.of(), incomplete, "master-key operations missing a way to send it");
  }

  /** Both uploads are one handler: they read the same headers and fields. */
  @Test
  void bothUploadsDeclareTheSameParameters() {
    JsonNode paths = OpenApiContract.shared().document().get("paths");
    assertEquals(
        paths.at("/~1upload/post/parameters"), paths.at("/~1upload~1batch/post/parameters"));
  }

  private static void operations(java.util.function.BiConsumer<String, JsonNode> each) {
    for (var path : OpenApiContract.shared().document().get("paths").properties()) {
      for (var op : path.getValue().properties()) {
        if (op.getValue().has("responses")) {
          each.accept(
              op.getKey().toUpperCase(java.util.Locale.ROOT) + " " + path.getKey(), op.getValue());
        }
      }
    }
  }

  /**
   * An operation that asks for a credential (its own security, else the document's) may answer 401
   * for a missing or wrong one: the document says so on each of them.
   */
  @Test
  void everyOperationThatNeedsACredentialLists401() {
    JsonNode doc = OpenApiContract.shared().document();
    Set<String> without401 = new TreeSet<>();
    for (var path : doc.get("paths").properties()) {
      for (var op : path.getValue().properties()) {
        if (!op.getValue().has("responses")) {
          continue; // the path's shared parameters, not an operation
        }
        JsonNode security =
            op.getValue().has("security") ? op.getValue().get("security") : doc.get("security");
        if (!security.isEmpty() && !op.getValue().get("responses").has("401")) {
          without401.add(op.getKey().toUpperCase(java.util.Locale.ROOT) + " " + path.getKey());
        }
      }
    }
    assertEquals(Set.of(), without401, "operations needing a credential that do not list 401");
  }

  @Test
  void theServedDocumentIsTheSourceWithTheRunningVersion() {
    JsonNode served = DocsEndpoint.document("9.9.9");
    assertEquals("3.1.0", served.get("openapi").asText());
    assertEquals("9.9.9", served.at("/info/version").asText());
    assertEquals(
        OpenApiContract.shared().document().get("paths"), served.get("paths"), "same paths");
  }
}
