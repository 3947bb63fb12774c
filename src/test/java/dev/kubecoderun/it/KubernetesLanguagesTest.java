package dev.kubecoderun.it;

import org.junit.jupiter.api.Tag;

/**
 * Every language end to end on the Kubernetes backend ({@link LanguagesTest}: hello world, an
 * error, a file in and a file out), in pods of the built images; a language whose image this run
 * did not build is skipped, and says so (KCR_ALL_IMAGES=1 builds them all).
 */
@Tag("kubernetes")
class KubernetesLanguagesTest extends LanguagesTest {
  @Override
  TestServer server() {
    return TestServer.kubernetes();
  }
}
