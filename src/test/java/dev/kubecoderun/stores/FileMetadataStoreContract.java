package dev.kubecoderun.stores;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.kubecoderun.files.FileMetadataStore;
import dev.kubecoderun.files.SessionUsage;
import dev.kubecoderun.files.StoredFile;
import dev.kubecoderun.session.Ids;
import java.time.Instant;
import java.time.temporal.ChronoUnit;
import java.util.List;
import org.junit.jupiter.api.Test;

/** What every FileMetadataStore does; run against the embedded store and against Redis. */
abstract class FileMetadataStoreContract {
  abstract FileMetadataStore store();

  private final String session = Ids.next();
  private final Instant now = Instant.now().truncatedTo(ChronoUnit.MICROS);

  /** A file of {@code size} bytes of session {@code sid}, named {@code name}, made {@code at}. */
  static StoredFile file(String sid, String name, long size, StoredFile.Kind kind, Instant at) {
    String id = Ids.next();
    return new StoredFile(
        sid, id, name, "text/csv", StoredFile.objectKey(sid, kind, id), size, at, kind);
  }

  private StoredFile file(String name, StoredFile.Kind kind, Instant at) {
    return file(session, name, 42, kind, at);
  }

  /** A skill file of user u1 of tenant acme. */
  private StoredFile skillFile(String name, boolean readOnly) {
    String id = Ids.next();
    return new StoredFile(
        session,
        id,
        name,
        "text/plain",
        StoredFile.objectKey(session, StoredFile.Kind.UPLOAD, id),
        3,
        now,
        StoredFile.Kind.UPLOAD,
        "jwt:acme/u1",
        "jwt:acme",
        StoredFile.Sharing.SKILL,
        readOnly);
  }

  @Test
  void aSavedFileIsFoundWithEveryField() {
    StoredFile f = file("data/input file.csv", StoredFile.Kind.UPLOAD, now);
    store().save(f);
    assertEquals(f, store().find(session, f.id()).orElseThrow());
    assertTrue(store().find(session, Ids.next()).isEmpty());
    assertTrue(store().find(Ids.next(), f.id()).isEmpty());
  }

  @Test
  void listGivesASessionsFilesOldestFirstAndOnlyThem() {
    StoredFile newer = file("b.png", StoredFile.Kind.OUTPUT, now.plusSeconds(2));
    StoredFile older = file("a.csv", StoredFile.Kind.UPLOAD, now);
    store().save(newer);
    store().save(older);
    StoredFile elsewhere =
        new StoredFile(
            Ids.next(),
            Ids.next(),
            "x",
            "text/plain",
            "sessions/x/uploads/y",
            1,
            now,
            older.kind());
    store().save(elsewhere);
    assertEquals(List.of(older, newer), store().list(session));
    assertEquals(List.of(), store().list(Ids.next()));
  }

  /**
   * What MAX_SESSION_FILES and MAX_SESSION_STORAGE_MB bound: a deleted file is neither counted nor
   * its bytes, none go negative.
   */
  @Test
  void usageAddsUpASessionsFilesAndForgetsDeletedOnes() {
    StoredFile a = file("a.csv", StoredFile.Kind.UPLOAD, now);
    StoredFile b = file("b.png", StoredFile.Kind.OUTPUT, now.plusSeconds(1));
    store().save(a);
    store().save(b);
    assertEquals(new SessionUsage(2, 84), store().usage(session));

    store().delete(session, b.id());
    store().delete(session, b.id());
    assertEquals(new SessionUsage(1, 42), store().usage(session));
    store().delete(session, a.id());
    assertEquals(new SessionUsage(0, 0), store().usage(session));
    assertEquals(new SessionUsage(0, 0), store().usage(Ids.next()));
  }

  @Test
  void anOwnedFileKeepsItsOwnerTenantAndKind() {
    StoredFile f = skillFile("skill.md", false);
    String id = f.id();
    store().save(f);
    StoredFile found = store().find(session, id).orElseThrow();
    assertEquals(f, found);
    assertFalse(found.isLegacy());
    assertTrue(found.sharedWith("jwt:acme"));
    assertFalse(found.sharedWith("jwt:other"));
    assertTrue(file("old.csv", StoredFile.Kind.UPLOAD, now).isLegacy());
  }

  @Test
  void aReadOnlyFileStaysReadOnly() {
    StoredFile f = skillFile("skills/My Skill/scripts/run.py", true);
    String id = f.id();
    store().save(f);
    StoredFile found = store().find(session, id).orElseThrow();
    assertEquals(f, found);
    assertTrue(found.readOnly());
    StoredFile plain = file("plain.csv", StoredFile.Kind.UPLOAD, now);
    store().save(plain);
    assertFalse(store().find(session, plain.id()).orElseThrow().readOnly());
  }

  @Test
  void deleteRemovesTheFileOnceAndReportsIt() {
    StoredFile f = file("gone.txt", StoredFile.Kind.OUTPUT, now);
    store().save(f);
    assertTrue(store().delete(session, f.id()));
    assertFalse(store().delete(session, f.id()));
    assertTrue(store().find(session, f.id()).isEmpty());
    assertEquals(List.of(), store().list(session));
  }
}
