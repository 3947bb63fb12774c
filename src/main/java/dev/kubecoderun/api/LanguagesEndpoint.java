package dev.kubecoderun.api;

import dev.kubecoderun.common.Json;
import dev.kubecoderun.language.LanguageCatalog;
import dev.kubecoderun.language.Libraries;
import io.helidon.common.media.type.MediaTypes;
import io.helidon.webserver.http.HttpRules;
import io.helidon.webserver.http.HttpService;
import io.helidon.webserver.http.ServerRequest;
import io.helidon.webserver.http.ServerResponse;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;

/** GET /languages: each language with its version and the libraries user code can use. */
final class LanguagesEndpoint implements HttpService {
  private final LanguageCatalog catalog;

  LanguagesEndpoint(LanguageCatalog catalog) {
    this.catalog = catalog;
  }

  @Override
  public void routing(HttpRules rules) {
    rules.get("/languages", this::list);
  }

  private void list(ServerRequest req, ServerResponse res) {
    List<Object> languages = new ArrayList<>();
    for (LanguageCatalog.Entry e : catalog.entries()) {
      List<Object> libraries = new ArrayList<>();
      for (Libraries.Library l : e.libraries()) {
        Map<String, Object> lib = new LinkedHashMap<>();
        lib.put("name", l.name());
        lib.put("version", l.version());
        lib.put("use", l.use());
        lib.put("source", l.source().name().toLowerCase(Locale.ROOT));
        libraries.add(lib);
      }
      Map<String, Object> lang = new LinkedHashMap<>();
      lang.put("language", e.language().code());
      lang.put("name", e.name());
      lang.put("version", e.version());
      lang.put("libraries", libraries);
      languages.add(lang);
    }
    res.status(200);
    res.headers().contentType(MediaTypes.APPLICATION_JSON);
    res.send(Json.write(Map.of("languages", languages)));
  }
}
