package dev.kubecoderun.it;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import dev.kubecoderun.auth.ManagedApiKeys;
import dev.kubecoderun.common.Json;
import java.io.File;
import java.io.IOException;
import java.net.Socket;
import java.net.http.HttpRequest;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.logging.Level;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;
import org.openqa.selenium.By;
import org.openqa.selenium.JavascriptExecutor;
import org.openqa.selenium.OutputType;
import org.openqa.selenium.WebDriver;
import org.openqa.selenium.WebElement;
import org.openqa.selenium.chrome.ChromeDriver;
import org.openqa.selenium.chrome.ChromeDriverService;
import org.openqa.selenium.chrome.ChromeOptions;
import org.openqa.selenium.logging.LogEntry;
import org.openqa.selenium.logging.LogType;
import org.openqa.selenium.support.ui.ExpectedConditions;
import org.openqa.selenium.support.ui.WebDriverWait;

/**
 * The dashboard in a real browser: Debian's headless Chromium, driven through its chromedriver
 * (both installed by scripts/install-prereqs). Signs in with the master key, creates a key (shown
 * once, and it works), revokes it (and it stops working), and fails on any console error (a
 * violation of the page's Content-Security-Policy among them); a sign-in or a change that fails
 * says why. The screenshots are target/dashboard.png and target/api-docs.png.
 */
@Tag("integration")
class DashboardBrowserTest {
  private static final Path SCREENSHOT = Path.of("target/dashboard.png");
  private static final Path DOCS_SCREENSHOT = Path.of("target/api-docs.png");

  private static WebDriver browser;
  private static Path profile;
  private final TestServer server = TestServer.get();

  @BeforeAll
  static void openBrowser() throws IOException {
    profile = Files.createTempDirectory("kcr-chromium-");
    ChromeOptions options = new ChromeOptions();
    options.setBinary("/usr/bin/chromium");
    options.addArguments(
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--window-size=1280,2000",
        "--user-data-dir=" + profile);
    options.setCapability("goog:loggingPrefs", Map.of(LogType.BROWSER, "ALL"));
    ChromeDriverService service =
        new ChromeDriverService.Builder()
            .usingDriverExecutable(new File("/usr/bin/chromedriver"))
            .usingAnyFreePort()
            .build();
    browser = new ChromeDriver(service, options);
  }

  @AfterAll
  static void closeBrowser() throws IOException {
    if (browser != null) {
      browser.quit();
    }
    try (var files = Files.walk(profile)) {
      files.sorted(java.util.Comparator.reverseOrder()).map(Path::toFile).forEach(File::delete);
    }
  }

  /** Each test reads only its own console: what an earlier page logged is dropped. */
  @BeforeEach
  void forgetEarlierConsoleErrors() {
    consoleErrors();
  }

  private WebDriverWait waitUpTo(int seconds) {
    return new WebDriverWait(browser, Duration.ofSeconds(seconds));
  }

  private int useKey(String key) {
    return server
        .send(HttpRequest.newBuilder(server.base.resolve("/languages")).header("X-API-Key", key))
        .status();
  }

  /** Everything the pages logged as an error (a failed request, an uncaught exception). */
  private static List<String> consoleErrors() {
    return browser.manage().logs().get(LogType.BROWSER).getAll().stream()
        .filter(e -> e.getLevel().intValue() >= Level.SEVERE.intValue())
        .map(LogEntry::toString)
        .toList();
  }

  /** The errors the page's script did not catch (an unhandled rejection, an exception). */
  private static List<String> uncaughtErrors() {
    return consoleErrors().stream().filter(e -> e.contains("Uncaught")).toList();
  }

  /**
   * The dashboard of {@code on}, at its sign-in form: signed out of an earlier test's session (the
   * key is in the tab's sessionStorage), and the console read empty.
   */
  private void openSignedOut(TestServer on) {
    browser.get(on.base.resolve("/admin-dashboard").toString());
    ((JavascriptExecutor) browser).executeScript("sessionStorage.clear()");
    browser.navigate().refresh();
    waitUpTo(20).until(ExpectedConditions.visibilityOfElementLocated(By.id("master-key")));
    consoleErrors();
  }

  private static void signInWith(String key) {
    WebElement field = browser.findElement(By.id("master-key"));
    field.clear();
    field.sendKeys(key);
    browser.findElement(By.id("login")).click();
  }

  /** Signs in with the master key on the dashboard opened signed out; waits for its main view. */
  private void signInAsOperator() {
    openSignedOut(server);
    signInWith(TestServer.MASTER);
    waitUpTo(20).until(ExpectedConditions.visibilityOfElementLocated(By.id("main-view")));
  }

  /** Waits until the element {@code css} selects shows {@code text}. */
  private void waitForText(String css, String text) {
    waitUpTo(20)
        .until(ExpectedConditions.textToBePresentInElementLocated(By.cssSelector(css), text));
  }

  private WebElement waitForSignInError(String text) {
    WebElement error = browser.findElement(By.id("login-error"));
    waitUpTo(20).until(ExpectedConditions.textToBePresentInElement(error, text));
    return error;
  }

  @Test
  void signInCreateAKeyRevokeItWithoutAConsoleError() throws IOException {
    // Something to show: two runs, one of them failing.
    assertEquals(200, server.exec("bash", "echo dashboard").status());
    assertEquals(200, server.exec("bash", "exit 4").status());

    signInAsOperator();
    waitForText("#keys tbody", "Environment Key");
    waitForText("#live-languages tbody", "bash");
    waitForText("#pools tbody", "py");
    waitForText("#failures tbody", "error");

    browser.findElement(By.id("key-name")).sendKeys("browser key");
    browser.findElement(By.id("key-limit")).sendKeys("30");
    browser.findElement(By.id("create-key")).click();
    WebElement shown =
        waitUpTo(20).until(ExpectedConditions.visibilityOfElementLocated(By.id("new-key-value")));
    String secret = shown.getText().trim();
    assertTrue(secret.matches("sk-[A-Za-z0-9_-]{32}"), "the new key is shown: " + secret);
    assertEquals(200, useKey(secret), "the key the page showed works");
    By row = By.cssSelector("#keys tr[data-key-hash='" + ManagedApiKeys.sha256Hex(secret) + "']");
    waitUpTo(20).until(ExpectedConditions.textToBePresentInElementLocated(row, "browser key"));
    assertTrue(browser.findElement(row).getText().contains("30"), "its per-minute limit");
    save(SCREENSHOT);

    browser.findElement(By.id("new-key-done")).click();
    assertTrue(browser.findElements(By.cssSelector("#new-key-value")).get(0).getText().isEmpty());
    WebElement revoke = browser.findElement(row).findElement(By.cssSelector("button.revoke"));
    revoke.click();
    waitUpTo(5)
        .until(ExpectedConditions.textToBePresentInElement(revoke, "Confirm revoke"))
        .booleanValue();
    revoke.click();
    waitUpTo(20).until(ExpectedConditions.numberOfElementsToBe(row, 0));
    assertEquals(401, useKey(secret), "revoked from the page: refused");

    assertEquals(List.of(), consoleErrors(), "console errors on the dashboard");
  }

  @Test
  void theApiReferencePageRendersTheDocument() throws IOException {
    browser.get(server.base.resolve("/docs").toString());
    waitUpTo(30)
        .until(
            ExpectedConditions.textToBePresentInElementLocated(
                By.cssSelector(".swagger-ui .info"), "KubeCodeRun API"));
    waitUpTo(30)
        .until(
            ExpectedConditions.textToBePresentInElementLocated(
                By.cssSelector(".swagger-ui"), "/api/v1/admin/keys"));
    save(DOCS_SCREENSHOT);
    assertEquals(List.of(), consoleErrors(), "console errors on the API reference page");
  }

  /**
   * A sign-in that fails for another reason than the key says so: a server at
   * MAX_CONCURRENT_REQUESTS answers 503 (shown with its message, not as a wrong key), and a server
   * that is gone does not answer at all. Neither leaves an uncaught error in the page.
   */
  @Test
  void aSignInThatFailsForAnotherReasonThanTheKeySaysWhy() throws Exception {
    TestServer own =
        TestServer.start(Map.of("MAX_CONCURRENT_REQUESTS", "4", "POD_POOL_PY", "0"), "0");
    boolean stopped = false;
    try {
      openSignedOut(own);
      List<Socket> stalled = new ArrayList<>();
      try {
        // Every request slot held by an upload stalled in its body; one the page itself still
        // held (its icon, say) refuses the upload, which is then tried again.
        dev.kubecoderun.testing.Eventually.await(
            "four uploads holding every request slot",
            Duration.ofSeconds(20),
            () -> {
              try {
                stalled.add(HostileClientsTest.stalledUpload(own.app.port(), stalled.size()));
              } catch (IOException | AssertionError e) {
                // refused: a slot was still taken
              }
              return stalled.size() == 4;
            });
        signInWith(TestServer.MASTER);
        WebElement error = waitForSignInError("server answered 503: Too many requests in progress");
        assertTrue(!error.getText().contains("not the master key"), error.getText());
        assertTrue(
            browser.findElement(By.id("main-view")).getAttribute("class").contains("hidden"),
            "still signed out");
      } finally {
        for (Socket s : stalled) {
          s.close();
        }
      }
      own.app.close();
      stopped = true;
      signInWith(TestServer.MASTER);
      waitForSignInError("no answer from the server");
      assertEquals(List.of(), uncaughtErrors(), "uncaught errors on the dashboard");
    } finally {
      if (!stopped) {
        own.app.close();
      }
    }
  }

  /**
   * A key with characters an HTTP header cannot carry (fetch refuses to send them) is not the
   * master key, which the server requires to be printable ASCII: the page says so, instead of
   * failing silently with an uncaught error.
   */
  @Test
  void aKeyOutsidePrintableAsciiIsRefusedWithAMessage() {
    openSignedOut(server);
    signInWith("clé-maître-€-0123456789-0123456789");
    waitForSignInError("a master key is printable ASCII only");
    assertEquals(List.of(), uncaughtErrors(), "uncaught errors on the dashboard");
  }

  /**
   * Only a refusal of the master key itself signs the operator out: the admin API's 403 for a
   * change it will not make (an environment key, which the page shows read-only; here the page's
   * own function is called with one) is shown, and the operator stays signed in.
   */
  @Test
  void aRefusedChangeIsShownWithoutSigningOut() {
    signInAsOperator();
    By envKey = By.xpath("//table[@id='keys']//tr[td[normalize-space()='environment']]");
    String hash =
        waitUpTo(20)
            .until(ExpectedConditions.presenceOfElementLocated(envKey))
            .getAttribute("data-key-hash");
    ((JavascriptExecutor) browser)
        .executeAsyncScript(
            "change(arguments[0], {enabled: false}).then(arguments[arguments.length - 1])", hash);
    waitUpTo(20)
        .until(
            ExpectedConditions.textToBePresentInElementLocated(
                By.id("keys-error"), "Environment keys cannot be"));
    assertTrue(browser.findElement(By.id("main-view")).isDisplayed(), "still signed in");
    assertEquals(
        TestServer.MASTER,
        ((JavascriptExecutor) browser)
            .executeScript("return sessionStorage.getItem(arguments[0])", "kcr-master-key"));
    assertEquals(List.of(), uncaughtErrors(), "uncaught errors on the dashboard");
  }

  /**
   * The dashboard, which holds the master key, has a policy of its own: nothing inline, nothing but
   * its own files and the API; Swagger UI keeps the inline styles it needs. (The sign-in test above
   * fails on any console error, a violation of this policy among them.)
   */
  @Test
  void theDashboardHasAStricterContentSecurityPolicyThanTheApiReference() {
    for (String path :
        List.of(
            "/admin-dashboard/",
            "/admin-dashboard/dashboard.js",
            "/admin-dashboard/dashboard.css")) {
      TestServer.Reply page = server.send(HttpRequest.newBuilder(server.base.resolve(path)));
      assertEquals(200, page.status(), path);
      String csp = page.header("Content-Security-Policy");
      assertTrue(csp.contains("default-src 'none'"), path + ": " + csp);
      assertTrue(csp.contains("script-src 'self';"), path + ": " + csp);
      assertTrue(csp.contains("style-src 'self';"), path + ": " + csp);
      assertTrue(csp.contains("connect-src 'self'"), path + ": " + csp);
      assertTrue(csp.contains("form-action 'none'"), path + ": " + csp);
      assertTrue(!csp.contains("unsafe-inline") && !csp.contains("data:"), path + ": " + csp);
    }
    TestServer.Reply docs = server.send(HttpRequest.newBuilder(server.base.resolve("/docs/")));
    assertEquals(200, docs.status());
    assertTrue(
        docs.header("Content-Security-Policy").contains("style-src 'self' 'unsafe-inline'"),
        docs.header("Content-Security-Policy"));
  }

  /**
   * What a tenant or the operator typed is shown as text, never as markup: a key's name, and a
   * failure's message that repeats the file names a client sent (a LibreChat user's, say), are
   * rendered literally, no element is made of them and no script of theirs runs. Signing out leaves
   * the master key nowhere in the browser (it was only ever in this tab's sessionStorage).
   */
  @Test
  void markupFromKeyNamesAndFailuresIsShownAsTextAndSignOutForgetsTheKey() {
    String markup = "<img src=x onerror=\"window.pwned=1\">";
    TestServer.Reply key =
        AdminApiTest.adminJson(
            server,
            "POST",
            "/api/v1/admin/keys",
            Json.writeString(Map.of("name", "key " + markup)));
    assertEquals(200, key.status(), key.body());
    JsonNode up = server.upload("a.txt", "a").json();
    String sid = up.get("session_id").asText();
    String fid = up.at("/files/0/fileId").asText();
    TestServer.Reply refused =
        server.exec(
            Map.of(
                "lang",
                "bash",
                "code",
                "ls",
                "files",
                List.of(
                    Map.of("id", fid, "session_id", sid, "name", markup),
                    Map.of("id", fid, "session_id", sid, "name", markup + "/b"))));
    assertEquals(400, refused.status(), refused.body());

    signInAsOperator();
    waitForText("#keys tbody", "key " + markup);
    waitForText("#failures tbody", "Input files '" + markup + "'");
    JavascriptExecutor js = (JavascriptExecutor) browser;
    assertEquals(0L, js.executeScript("return document.querySelectorAll('main img').length"));
    assertEquals(Boolean.TRUE, js.executeScript("return window.pwned === undefined"));

    browser.findElement(By.id("logout")).click();
    waitUpTo(20).until(ExpectedConditions.visibilityOfElementLocated(By.id("master-key")));
    assertEquals(
        "",
        js.executeScript(
            "return JSON.stringify(sessionStorage) + JSON.stringify(localStorage) === '{}{}'"
                + " ? document.cookie : 'stored'"),
        "no key kept after signing out");
    assertEquals(List.of(), consoleErrors(), "console errors on the dashboard");
    server.send(
        AdminApiTest.admin(
                server, "/api/v1/admin/keys/" + key.json().at("/record/key_hash").asText())
            .DELETE());
  }

  private static void save(Path to) throws IOException {
    File shot = ((ChromeDriver) browser).getScreenshotAs(OutputType.FILE);
    Files.createDirectories(to.getParent());
    Files.copy(shot.toPath(), to, StandardCopyOption.REPLACE_EXISTING);
  }
}
