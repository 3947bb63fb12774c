package dev.kubecoderun.files;

import dev.kubecoderun.auth.Principal;
import dev.kubecoderun.memory.Room;
import dev.kubecoderun.session.Ids;
import java.io.IOException;
import java.io.InputStream;
import java.time.Clock;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.logging.Level;
import java.util.logging.Logger;

/**
 * Stores, finds and deletes a session's files. Bytes go to the object store before the metadata
 * that points at them, so no metadata ever names a missing object; a failed metadata write removes
 * the object again.
 *
 * <p>Every file has an owner: the principal that stored it may read and delete it; an {@code agent}
 * or {@code skill} file may also be read by the rest of its owner's tenant. A file written before
 * owners were recorded is its session's owner's. To anyone else a file does not exist.
 */
public final class FileService {
  private static final Logger LOG = Logger.getLogger(FileService.class.getName());

  private final FileMetadataStore metadata;
  private final ObjectStore objects;
  private final Clock clock;
  private final SessionOwners sessions;

  public FileService(
      FileMetadataStore metadata, ObjectStore objects, Clock clock, SessionOwners sessions) {
    this.metadata = metadata;
    this.objects = objects;
    this.clock = clock;
    this.sessions = sessions;
  }

  /**
   * Stores an upload of {@code owner} under {@link FilenameSanitizer#uploadName its name}: a clean
   * relative path as sent, else the sanitized last component; its {@code contentType} when it is a
   * {@link MediaType media type}, else {@code application/octet-stream}; {@code room}: see {@link
   * ObjectStore#put(String, InputStream, long, String, Room)}; {@code readOnly}: a run that changes
   * the file does not return it.
   */
  public StoredFile upload(
      Principal owner,
      StoredFile.Sharing sharing,
      String sessionId,
      String rawName,
      String contentType,
      InputStream in,
      long maxBytes,
      Room room,
      boolean readOnly)
      throws IOException {
    return store(
        owner,
        sharing,
        sessionId,
        FilenameSanitizer.uploadName(rawName),
        MediaType.orUnknown(contentType),
        in,
        maxBytes,
        StoredFile.Kind.UPLOAD,
        room,
        readOnly);
  }

  /**
   * Stores a file a run of {@code owner} created or modified, under its path in /mnt/data, typed
   * from its name.
   */
  public StoredFile storeOutput(
      Principal owner, String sessionId, String name, InputStream in, long maxBytes, Room room)
      throws IOException {
    return store(
        owner,
        StoredFile.Sharing.USER,
        sessionId,
        name,
        ContentTypes.fromName(name),
        in,
        maxBytes,
        StoredFile.Kind.OUTPUT,
        room,
        false);
  }

  private StoredFile store(
      Principal owner,
      StoredFile.Sharing sharing,
      String sessionId,
      String name,
      String contentType,
      InputStream in,
      long maxBytes,
      StoredFile.Kind kind,
      Room room,
      boolean readOnly)
      throws IOException {
    String id = Ids.next();
    String key = StoredFile.objectKey(sessionId, kind, id);
    long size = objects.put(key, in, maxBytes, contentType, room);
    StoredFile file =
        new StoredFile(
            sessionId,
            id,
            name,
            contentType,
            key,
            size,
            clock.instant(),
            kind,
            owner.user(),
            owner.tenant(),
            sharing,
            readOnly);
    try {
      metadata.save(file);
    } catch (RuntimeException e) {
      // A record written before the failure (its set entry not) is found by its id: gone too,
      // when the store lets it.
      try {
        metadata.delete(sessionId, id);
      } catch (RuntimeException again) {
        e.addSuppressed(again);
      }
      objects.delete(key);
      throw e;
    }
    return file;
  }

  /** The file, when the principal may read it. */
  public Optional<StoredFile> find(Principal principal, String sessionId, String fileId) {
    return metadata.find(sessionId, fileId).filter(f -> readable(principal, f));
  }

  /**
   * What each file of a listing may cost while it is in memory (its record as read, with a name of
   * up to 1024 bytes, the entry made of it and its JSON; most take far less): a session holds up to
   * MAX_SESSION_FILES, tens of MB when many.
   */
  public static final long LISTED_FILE_BYTES = 8 * 1024;

  /**
   * The session's files the principal may read, oldest first, paid for before they are read: {@code
   * room} is asked for {@link #LISTED_FILE_BYTES} a file of the session, whoever owns them, all of
   * it or none ({@link Room#reserveAll}: {@link
   * dev.kubecoderun.memory.MemoryBudgetExhaustedException} past what the holder may have). What was
   * reserved stays reserved: the caller holds the listing until it is done with it.
   */
  public List<StoredFile> list(Principal principal, String sessionId, Room room) {
    room.reserveAll(usage(sessionId).files() * LISTED_FILE_BYTES);
    List<StoredFile> all = metadata.list(sessionId);
    if (all.isEmpty()) {
      return all;
    }
    // A file without an owner is the session's owner's: ask once for all of them.
    boolean ownsSession =
        all.stream().anyMatch(StoredFile::isLegacy) && sessions.owns(principal, sessionId);
    return all.stream().filter(f -> f.isLegacy() ? ownsSession : readable(principal, f)).toList();
  }

  /**
   * How many files the session holds and their bytes together, whoever owns them (what
   * MAX_SESSION_FILES and MAX_SESSION_STORAGE_MB bound), without loading them.
   */
  public SessionUsage usage(String sessionId) {
    return metadata.usage(sessionId);
  }

  /**
   * A file reference from a client, when the principal may read it: by id in its session, else
   * (older clients) the newest readable file of that session whose name or id matches. {@code
   * listings}: the sessions this principal's request has listed so far, filled as needed. An older
   * client's references to one session are all found by name: the session is listed once for them,
   * not once for each, paid for from {@code room} as {@link #list(Principal, String, Room)} says (a
   * request may name hundreds of sessions).
   */
  public Optional<StoredFile> resolve(
      Principal principal,
      String sessionId,
      String fileId,
      String name,
      Map<String, List<StoredFile>> listings,
      Room room) {
    if (fileId != null) {
      Optional<StoredFile> byId = find(principal, sessionId, fileId);
      if (byId.isPresent()) {
        return byId;
      }
    }
    List<StoredFile> files = listings.get(sessionId);
    if (files == null) {
      files = list(principal, sessionId, room);
      listings.put(sessionId, files);
    }
    for (int i = files.size() - 1; i >= 0; i--) {
      StoredFile f = files.get(i);
      if (f.name().equals(name) || f.name().equals(fileId) || f.id().equals(fileId)) {
        return Optional.of(f);
      }
    }
    return Optional.empty();
  }

  /**
   * Deletes the file when the principal owns it (readers of a shared file may not); false when it
   * does not exist for them.
   */
  public boolean delete(Principal principal, String sessionId, String fileId) throws IOException {
    Optional<StoredFile> file = metadata.find(sessionId, fileId);
    if (file.isEmpty()) {
      return false;
    }
    return owns(principal, file.get()) && deleteAnyOwner(sessionId, fileId);
  }

  /** Its owner's, or (without an owner) its session's owner's. */
  private boolean owns(Principal principal, StoredFile f) {
    return f.isLegacy()
        ? sessions.owns(principal, f.sessionId())
        : principal.user().equals(f.owner());
  }

  /** The owner's, and a shared file's tenant's (a file without an owner is never shared). */
  private boolean readable(Principal principal, StoredFile f) {
    return owns(principal, f) || f.sharedWith(principal.tenant());
  }

  /** Any file, whoever owns it: for the housekeeping, never for a request. */
  public Optional<StoredFile> findAnyOwner(String sessionId, String fileId) {
    return metadata.find(sessionId, fileId);
  }

  /** Any files, whoever owns them: for the housekeeping, never for a request. */
  public List<StoredFile> listAnyOwner(String sessionId) {
    return metadata.list(sessionId);
  }

  /** The file's bytes, or empty when the object is gone. The caller closes the stream. */
  public Optional<InputStream> open(StoredFile file) throws IOException {
    return objects.open(file.objectKey());
  }

  /** {@code length} bytes (at least one) of the file from {@code offset}; see {@link #open}. */
  public Optional<InputStream> open(StoredFile file, long offset, long length) throws IOException {
    return objects.open(file.objectKey(), offset, length);
  }

  /**
   * Deletes every file of a session: the metadata-listed ones, then any object left under the
   * session's prefix (an upload whose metadata write failed). Returns how many objects went.
   */
  public int deleteSession(String sessionId, int maxObjects) throws IOException {
    int deleted = 0;
    for (StoredFile f : metadata.list(sessionId)) {
      if (deleteAnyOwner(sessionId, f.id())) {
        deleted++;
      }
    }
    for (ObjectStore.ObjectSummary o :
        objects.list("sessions/" + sessionId + "/", null, maxObjects)) {
      objects.delete(o.key());
      deleted++;
    }
    return deleted;
  }

  /**
   * Deletes metadata first: a failure after it leaves an orphan object, never a dangling name. Any
   * file, whoever owns it: for the housekeeping and roll-backs ({@link #rollBack}), never for a
   * request.
   */
  public boolean deleteAnyOwner(String sessionId, String fileId) throws IOException {
    Optional<StoredFile> file = metadata.find(sessionId, fileId);
    if (file.isEmpty() || !metadata.delete(sessionId, fileId)) {
      return false;
    }
    objects.delete(file.get().objectKey());
    return true;
  }

  /**
   * Takes back files stored for an answer that is an error (an upload refused, a run failed after
   * storing some outputs): that answer names none of them. Best effort, each failure logged: the
   * store that failed may be the one they are in, and what stays is an orphan the emptying of the
   * session (or the orphan sweep, for bytes) collects.
   */
  public void rollBack(List<StoredFile> stored) {
    for (StoredFile f : stored) {
      try {
        deleteAnyOwner(f.sessionId(), f.id());
      } catch (IOException | RuntimeException e) {
        LOG.log(
            Level.WARNING, "cannot roll back file " + f.id() + " of session " + f.sessionId(), e);
      }
    }
  }
}
