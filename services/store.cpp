#include "services/store.hpp"

#include <array>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <vector>

#include <unistd.h>

#include <fmt/format.h>
#include <sqlite3.h>

#include "services/error.hpp"
#include "services/lifecycle.hpp"
#include "services/names.hpp"

namespace banger {

namespace {

// Marks the file as banger's, so that another program's SQLite database is
// refused instead of getting our tables added to it. ("BANG")
constexpr int application_id = 0x42414e47;

struct migration {
  int version;
  const char* summary;
  const char* sql; // constant DDL only; never built from user values
};

// Append only: a released migration never changes. Foreign keys are on while
// these run, so a future table rebuild must say so in its own step.
constexpr std::array migrations{
  migration{1, "create the tables vms, images and kernels", R"sql(
    CREATE TABLE kernels (
      name       TEXT PRIMARY KEY NOT NULL,
      vmlinux    TEXT NOT NULL,
      initrd     TEXT NOT NULL,
      version    TEXT NOT NULL,
      created_at TEXT NOT NULL
    );
    CREATE TABLE images (
      name       TEXT PRIMARY KEY NOT NULL,
      kernel     TEXT REFERENCES kernels(name) ON DELETE RESTRICT,
      rootfs     TEXT NOT NULL,
      size_bytes INTEGER NOT NULL,
      created_at TEXT NOT NULL
    );
    CREATE TABLE vms (
      id           TEXT PRIMARY KEY NOT NULL,
      name         TEXT NOT NULL UNIQUE,
      state        TEXT NOT NULL,
      image        TEXT REFERENCES images(name) ON DELETE RESTRICT,
      kernel       TEXT REFERENCES kernels(name) ON DELETE RESTRICT,
      vcpu         INTEGER NOT NULL,
      memory_mib   INTEGER NOT NULL,
      pid          INTEGER NOT NULL,
      created_at   TEXT NOT NULL,
      started_at   TEXT NOT NULL,
      boot_ms      INTEGER NOT NULL,
      last_error   TEXT NOT NULL,
      dir          TEXT NOT NULL,
      root_disk    TEXT NOT NULL,
      agent_socket TEXT NOT NULL,
      qmp_socket   TEXT NOT NULL,
      serial_log   TEXT NOT NULL,
      accel        TEXT NOT NULL
    );
    -- list order, and the child sides of the foreign keys (delete checks).
    CREATE INDEX vms_by_created ON vms(created_at, name);
    CREATE INDEX vms_by_image ON vms(image);
    CREATE INDEX vms_by_kernel ON vms(kernel);
    CREATE INDEX images_by_kernel ON images(kernel);
    PRAGMA application_id = 1111576135;
  )sql"},
  migration{2, "add the VMs' network columns (ip, mac, tap, nat)", R"sql(
    ALTER TABLE vms ADD COLUMN ip  TEXT NOT NULL DEFAULT '';
    ALTER TABLE vms ADD COLUMN mac TEXT NOT NULL DEFAULT '';
    ALTER TABLE vms ADD COLUMN tap TEXT NOT NULL DEFAULT '';
    ALTER TABLE vms ADD COLUMN nat INTEGER NOT NULL DEFAULT 0;
    -- an address is never handed out twice while its VM exists.
    CREATE UNIQUE INDEX vms_by_ip ON vms(ip) WHERE ip != '';
  )sql"},
  migration{3, "record where images and kernels came from (source, digest)", R"sql(
    ALTER TABLE images ADD COLUMN source TEXT NOT NULL DEFAULT '';
    ALTER TABLE images ADD COLUMN digest TEXT NOT NULL DEFAULT '';
    ALTER TABLE kernels ADD COLUMN source TEXT NOT NULL DEFAULT '';
    ALTER TABLE kernels ADD COLUMN digest TEXT NOT NULL DEFAULT '';
  )sql"},
  migration{4, "give VMs a work disk for /root and images a work seed", R"sql(
    ALTER TABLE vms ADD COLUMN work_disk TEXT NOT NULL DEFAULT '';
    ALTER TABLE vms ADD COLUMN disk_bytes INTEGER NOT NULL DEFAULT 0;
    ALTER TABLE images ADD COLUMN work_seed TEXT NOT NULL DEFAULT '';
  )sql"},
  migration{5, "record whether VMs get config.toml's [guest] files, and their start stages", R"sql(
    ALTER TABLE vms ADD COLUMN host_files INTEGER NOT NULL DEFAULT 1;
    ALTER TABLE vms ADD COLUMN stages TEXT NOT NULL DEFAULT '';
  )sql"},
};

constexpr int latest_version = migrations.back().version;

struct db_closer {
  void operator()(sqlite3* db) const { sqlite3_close_v2(db); }
};
using db_ptr = std::unique_ptr<sqlite3, db_closer>;

// A prepared statement whose parameters are bound in order (?1, ?2, ...).
// A failed prepare or bind is remembered and reported by step().
class stmt {
public:
  stmt(sqlite3* db, const char* sql) {
    rc_ = sqlite3_prepare_v2(db, sql, -1, &s_, nullptr);
  }
  ~stmt() { sqlite3_finalize(s_); }
  stmt(const stmt&) = delete;
  stmt& operator=(const stmt&) = delete;

  stmt& text(std::string_view v) {
    // A null data pointer would bind NULL rather than "".
    if (rc_ == SQLITE_OK)
      rc_ = sqlite3_bind_text(s_, ++index_, v.data() ? v.data() : "",
                              static_cast<int>(v.size()), SQLITE_TRANSIENT);
    return *this;
  }
  // Empty means "none": NULL keeps optional foreign keys unchecked.
  stmt& text_or_null(std::string_view v) {
    if (!v.empty())
      return text(v);
    if (rc_ == SQLITE_OK)
      rc_ = sqlite3_bind_null(s_, ++index_);
    return *this;
  }
  stmt& integer(std::int64_t v) {
    if (rc_ == SQLITE_OK)
      rc_ = sqlite3_bind_int64(s_, ++index_, v);
    return *this;
  }

  /// SQLITE_ROW, SQLITE_DONE or an error code.
  int step() { return rc_ == SQLITE_OK ? sqlite3_step(s_) : rc_; }

  std::string col_text(int i) const {
    auto p = sqlite3_column_text(s_, i);
    return p ? std::string(reinterpret_cast<const char*>(p)) : std::string();
  }
  std::int64_t col_int(int i) const { return sqlite3_column_int64(s_, i); }

private:
  sqlite3_stmt* s_ = nullptr;
  int rc_ = SQLITE_OK;
  int index_ = 0;
};

std::string in_quotes(std::string_view s) {
  return fmt::format("\"{}\"", s);
}

// Runs a statement that yields one integer (pragmas, counts).
caf::expected<std::int64_t> query_int(sqlite3* db, const char* sql) {
  stmt s{db, sql};
  if (s.step() != SQLITE_ROW)
    return make_error(ec::internal, sqlite3_errmsg(db));
  return s.col_int(0);
}

caf::error refuse(const std::string& path, std::string_view why,
                  std::string_view todo) {
  return make_error(ec::bad_state,
                    fmt::format("cannot use the state database {}: {}; {}",
                                in_quotes(path), why, todo));
}

constexpr std::string_view move_aside
  = "move the file aside (banger then starts with an empty database) or "
    "restore it from a backup";

struct file_state {
  bool exists = false;
  int version = 0;
};

// Everything open() checks before it may write, done on a read-only
// connection so that a refused file is left exactly as it was.
// `shown` names the file in messages when `path` is a copy of it.
caf::expected<file_state> inspect(const std::string& path,
                                  const std::string& shown = {}) {
  namespace fs = std::filesystem;
  const auto& name = shown.empty() ? path : shown;
  std::error_code err;
  auto st = fs::status(path, err);
  if (!fs::exists(st))
    return file_state{};
  if (!fs::is_regular_file(st))
    return refuse(name, "it is not a regular file", move_aside);
  if (fs::file_size(path, err) == 0 && !err)
    return file_state{true, 0}; // SQLite treats an empty file as a new database
  // Checked by hand: SQLite would report a foreign file only on first use.
  char header[16] = {};
  std::ifstream in{path, std::ios::binary};
  if (!in.is_open())
    return make_error(ec::unavailable,
                      fmt::format("cannot read the state database {}; check the "
                                  "file's permissions",
                                  in_quotes(name)));
  if (!in.read(header, sizeof header)
      || std::memcmp(header, "SQLite format 3", sizeof header) != 0)
    return refuse(name, "it is not a SQLite database", move_aside);
  // A read-only connection to a WAL database still creates -wal and -shm
  // beside it: those it made go again, so that a refused file is left
  // exactly as it was found (declared before `db`: runs after it closes).
  struct sidecar_sweep {
    std::vector<std::string> made;
    ~sidecar_sweep() {
      for (auto& f : made)
        ::unlink(f.c_str());
    }
  } sweep;
  for (const char* suffix : {"-wal", "-shm"})
    if (std::error_code e; !fs::exists(path + suffix, e))
      sweep.made.push_back(path + suffix);
  sqlite3* raw = nullptr;
  auto rc = sqlite3_open_v2(path.c_str(), &raw, SQLITE_OPEN_READONLY, nullptr);
  db_ptr db{raw};
  if (rc != SQLITE_OK)
    return make_error(ec::unavailable,
                      fmt::format("cannot open the state database {}: {}; check "
                                  "the file's permissions",
                                  in_quotes(name), raw ? sqlite3_errmsg(raw)
                                                    : sqlite3_errstr(rc)));
  sqlite3_busy_timeout(db.get(), 5000);
  {
    stmt check{db.get(), "PRAGMA quick_check(1)"};
    auto step = check.step();
    if (step != SQLITE_ROW || check.col_text(0) != "ok") {
      auto why = step == SQLITE_ROW ? check.col_text(0) : sqlite3_errmsg(db.get());
      return refuse(name, fmt::format("it is damaged (quick_check: {})", why),
                    move_aside);
    }
  }
  auto version = query_int(db.get(), "PRAGMA user_version");
  auto app = query_int(db.get(), "PRAGMA application_id");
  auto objects = query_int(db.get(), "SELECT count(*) FROM sqlite_master");
  if (!version || !app || !objects)
    return refuse(name, "it cannot be read", move_aside);
  if (*version > latest_version)
    return refuse(name,
                  fmt::format("its schema version is {} but this banger knows "
                              "versions up to {}",
                              *version, latest_version),
                  "upgrade banger, or move the file aside to start empty");
  if ((*version == 0 && *objects > 0) || (*version > 0 && *app != application_id))
    return refuse(name, "it is a SQLite database of another program", move_aside);
  return file_state{true, static_cast<int>(*version)};
}

caf::expected<void> exec(sqlite3* db, const std::string& sql) {
  char* msg = nullptr;
  if (sqlite3_exec(db, sql.c_str(), nullptr, nullptr, &msg) == SQLITE_OK)
    return caf::unit;
  std::string text = msg ? msg : sqlite3_errmsg(db);
  sqlite3_free(msg);
  return make_error(ec::internal, std::move(text));
}

// One transaction per migration; BEGIN IMMEDIATE plus the re-read version
// make a concurrent opener skip what the other one has just applied.
caf::expected<int> migrate(sqlite3* db, const std::string& path) {
  int applied = 0;
  for (const auto& m : migrations) {
    bool ran = false;
    auto step = [&]() -> caf::expected<void> {
      if (auto r = exec(db, "BEGIN IMMEDIATE"); !r)
        return r;
      auto current = query_int(db, "PRAGMA user_version");
      if (!current)
        return current.error();
      if (*current < m.version) {
        ran = true;
        if (auto r = exec(db, m.sql); !r)
          return r;
        if (auto r = exec(db, fmt::format("PRAGMA user_version = {}", m.version));
            !r)
          return r;
      }
      return exec(db, "COMMIT");
    }();
    if (!step) {
      exec(db, "ROLLBACK");
      return make_error(ec::internal,
                        fmt::format("cannot upgrade the state database {} to "
                                    "schema version {} ({}): {}; the file is "
                                    "unchanged, check free disk space and retry",
                                    in_quotes(path), m.version, m.summary,
                                    error_message(step.error())));
    }
    applied += ran ? 1 : 0;
  }
  return applied;
}

// Column order shared by every vms query and by bind_vm.
constexpr const char* vm_columns
  = "id, name, state, image, kernel, vcpu, memory_mib, pid, created_at, "
    "started_at, boot_ms, last_error, dir, root_disk, agent_socket, "
    "qmp_socket, serial_log, accel, ip, mac, tap, nat, work_disk, disk_bytes, "
    "host_files, stages";

// The start stages as stored: a JSON array of vm_stage ("" for none).
std::string stages_text(const std::vector<vm_stage>& stages) {
  if (stages.empty())
    return "";
  auto arr = wire::json::array();
  for (auto& st : stages)
    arr.push_back(to_json(st));
  return arr.dump();
}

std::vector<vm_stage> stages_of(const std::string& text) {
  std::vector<vm_stage> out;
  if (text.empty())
    return out;
  try {
    for (auto& e : wire::json::parse(text))
      out.push_back(decode<vm_stage>(e));
  } catch (const std::exception&) {
    out.clear(); // timings only: a damaged value is shown as none
  }
  return out;
}

void bind_vm(stmt& s, const vm_record& r) {
  const auto& i = r.info;
  s.text(i.id).text(i.name).text(i.state).text_or_null(i.image)
    .text_or_null(i.kernel).integer(i.vcpu).integer(i.memory_mib).integer(i.pid)
    .text(i.created_at).text(i.started_at)
    .integer(static_cast<std::int64_t>(i.boot_ms)).text(i.last_error).text(i.dir)
    .text(r.root_disk).text(r.agent_socket).text(r.qmp_socket).text(r.serial_log)
    .text(r.accel).text(i.ip).text(i.mac).text(r.tap).integer(i.nat ? 1 : 0)
    .text(r.work_disk).integer(static_cast<std::int64_t>(i.disk_bytes))
    .integer(i.host_files ? 1 : 0).text(stages_text(i.stages));
}

vm_record read_vm(const stmt& s) {
  vm_record r;
  auto& i = r.info;
  i.id = s.col_text(0);
  i.name = s.col_text(1);
  i.state = s.col_text(2);
  i.image = s.col_text(3);
  i.kernel = s.col_text(4);
  i.vcpu = static_cast<std::uint32_t>(s.col_int(5));
  i.memory_mib = static_cast<std::uint32_t>(s.col_int(6));
  i.pid = s.col_int(7);
  i.created_at = s.col_text(8);
  i.started_at = s.col_text(9);
  i.boot_ms = static_cast<std::uint64_t>(s.col_int(10));
  i.last_error = s.col_text(11);
  i.dir = s.col_text(12);
  r.root_disk = s.col_text(13);
  r.agent_socket = s.col_text(14);
  r.qmp_socket = s.col_text(15);
  r.serial_log = s.col_text(16);
  r.accel = s.col_text(17);
  i.ip = s.col_text(18);
  i.mac = s.col_text(19);
  r.tap = s.col_text(20);
  i.nat = s.col_int(21) != 0;
  r.work_disk = s.col_text(22);
  i.disk_bytes = static_cast<std::uint64_t>(s.col_int(23));
  i.host_files = s.col_int(24) != 0;
  i.stages = stages_of(s.col_text(25));
  return r;
}

image_info read_image(const stmt& s) {
  return image_info{s.col_text(0), s.col_text(1), s.col_text(2),
                    static_cast<std::uint64_t>(s.col_int(3)), s.col_text(4),
                    s.col_text(5), s.col_text(6), s.col_text(7)};
}

kernel_info read_kernel(const stmt& s) {
  return kernel_info{s.col_text(0), s.col_text(1), s.col_text(2), s.col_text(3),
                     s.col_text(4), s.col_text(5), s.col_text(6)};
}

// Whether a query with one text parameter yields a row.
bool has_row(sqlite3* db, const char* sql, const std::string& key) {
  stmt s{db, sql};
  return s.text(key).step() == SQLITE_ROW;
}

} // namespace

store::store(sqlite3* db, std::string path) : db_(db), path_(std::move(path)) {}

store::~store() {
  sqlite3_close_v2(db_);
}

int store::latest_schema_version() {
  return latest_version;
}

caf::expected<std::unique_ptr<store>> store::open(const std::string& path) {
  auto state = inspect(path);
  if (!state)
    return state.error();
  sqlite3* raw = nullptr;
  auto rc = sqlite3_open_v2(path.c_str(), &raw,
                            SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, nullptr);
  db_ptr db{raw};
  if (rc != SQLITE_OK)
    return make_error(ec::unavailable,
                      fmt::format("cannot open or create the state database {}: "
                                  "{}; check that its directory exists and is "
                                  "writable",
                                  in_quotes(path), raw ? sqlite3_errmsg(raw)
                                                    : sqlite3_errstr(rc)));
  sqlite3_extended_result_codes(db.get(), 1);
  // The daemon is the only writer, but the CLI may read while it writes.
  sqlite3_busy_timeout(db.get(), 5000);
  auto setup = [&]() -> caf::expected<void> {
    if (auto r = exec(db.get(), "PRAGMA foreign_keys = ON"); !r)
      return r;
    stmt wal{db.get(), "PRAGMA journal_mode = WAL"};
    if (wal.step() != SQLITE_ROW || wal.col_text(0) != "wal")
      return make_error(ec::internal, "the file system does not support WAL mode");
    // WAL makes NORMAL durable against crashes of the daemon, not of the host
    // for the last commits: fine for state the daemon reconciles on start.
    return exec(db.get(), "PRAGMA synchronous = NORMAL");
  }();
  if (!setup)
    return make_error(ec::unavailable,
                      fmt::format("cannot set up the state database {}: {}; "
                                  "check that it lies on a local file system",
                                  in_quotes(path), error_message(setup.error())));
  auto applied = migrate(db.get(), path);
  if (!applied)
    return applied.error();
  std::unique_ptr<store> result{new store(db.release(), path)};
  result->version_ = latest_version;
  result->applied_ = *applied;
  return result;
}

caf::expected<std::vector<std::string>>
store::pending_migrations(const std::string& path) {
  auto plan = plan_migrations(path);
  if (!plan)
    return plan.error();
  std::vector<std::string> lines;
  for (const auto& m : plan->pending)
    lines.push_back(fmt::format("migration {}: {}", m.version, m.summary));
  return lines;
}

caf::expected<store::migration_plan>
store::plan_migrations(const std::string& path) {
  namespace fs = std::filesystem;
  // Even a read-only SQLite connection creates and writes the -shm (and
  // creates a -wal) of a WAL database. To leave the file and its companions
  // exactly as they are, read a private copy of state.db and its -wal: the
  // copy shows what the daemon would see, commits still in the WAL included.
  std::error_code err;
  std::string target = path;
  std::string scratch;
  if (fs::is_regular_file(path, err)) {
    auto tmpl = (fs::temp_directory_path(err) / "banger-check-XXXXXX").string();
    if (::mkdtemp(tmpl.data()) == nullptr)
      return make_error(ec::unavailable,
                        fmt::format("cannot create a directory to inspect a "
                                    "copy of {} in ({}); point TMPDIR at a "
                                    "writable directory",
                                    in_quotes(path), std::strerror(errno)));
    scratch = tmpl;
    target = scratch + "/state.db";
    for (const char* suffix : {"", "-wal"}) {
      auto from = path + suffix;
      if (*suffix != '\0' && !fs::exists(from, err))
        continue;
      fs::copy_file(from, target + suffix, err);
      if (err) {
        fs::remove_all(scratch, err);
        return make_error(ec::unavailable,
                          fmt::format("cannot read the state database {}: {}; "
                                      "check the file's permissions",
                                      in_quotes(from), err.message()));
      }
    }
  }
  auto state = inspect(target, path);
  if (!scratch.empty())
    fs::remove_all(scratch, err);
  if (!state)
    return state.error();
  migration_plan plan;
  plan.exists = state->exists;
  plan.current_version = state->version;
  plan.latest_version = latest_version;
  for (const auto& m : migrations)
    if (m.version > state->version)
      plan.pending.push_back({m.version, m.summary});
  return plan;
}

caf::error store::sql_error(const char* doing) const {
  auto code = sqlite3_extended_errcode(db_);
  auto msg = sqlite3_errmsg(db_);
  // The checks before each write make these the backstop, not the rule.
  if (code == SQLITE_CONSTRAINT_UNIQUE || code == SQLITE_CONSTRAINT_PRIMARYKEY)
    return make_error(ec::already_exists,
                      fmt::format("cannot {}: the name or id is taken ({}); "
                                  "choose another",
                                  doing, msg));
  if (code == SQLITE_CONSTRAINT_FOREIGNKEY)
    return make_error(ec::bad_state,
                      fmt::format("cannot {}: it refers to, or is used by, "
                                  "another object ({}); check: banger image list, "
                                  "banger kernel list, banger vm list",
                                  doing, msg));
  if ((code & 0xff) == SQLITE_FULL)
    return make_error(ec::unavailable,
                      fmt::format("cannot {}: the disk holding {} is full; free "
                                  "some space and retry",
                                  doing, in_quotes(path_)));
  return make_error(ec::internal,
                    fmt::format("cannot {} in the state database {}: {}; check "
                                "the file and its permissions",
                                doing, in_quotes(path_), msg));
}

caf::expected<void> store::check_vm(const vm_record& r, bool inserting) {
  const auto& i = r.info;
  if (auto why = validate_vm_name(i.name); !why.empty())
    return make_error(ec::invalid_argument, std::move(why));
  if (i.id.empty())
    return make_error(ec::invalid_argument,
                      fmt::format("cannot store VM {} without an id; this is a "
                                  "bug in banger, please report it",
                                  in_quotes(i.name)));
  if (!parse_vm_state(i.state))
    return make_error(ec::invalid_argument,
                      fmt::format("cannot store VM {} in unknown state {}; this "
                                  "is a bug in banger, please report it",
                                  in_quotes(i.name), in_quotes(i.state)));
  if (inserting && has_row(db_, "SELECT 1 FROM vms WHERE id = ?1", i.id))
    return make_error(ec::already_exists,
                      fmt::format("a VM with id {} exists already; retry to get "
                                  "a new id",
                                  in_quotes(i.id)));
  {
    stmt s{db_, "SELECT id FROM vms WHERE name = ?1"};
    if (s.text(i.name).step() == SQLITE_ROW && (inserting || s.col_text(0) != i.id))
      return make_error(ec::already_exists,
                        fmt::format("a VM named {} exists already; choose another "
                                    "name or delete it with: banger vm delete {}",
                                    in_quotes(i.name), i.name));
  }
  if (!i.image.empty()
      && !has_row(db_, "SELECT 1 FROM images WHERE name = ?1", i.image))
    return make_error(ec::not_found,
                      fmt::format("VM {} needs image {}, which does not exist "
                                  "(see: banger image list)",
                                  in_quotes(i.name), in_quotes(i.image)));
  if (!i.kernel.empty()
      && !has_row(db_, "SELECT 1 FROM kernels WHERE name = ?1", i.kernel))
    return make_error(ec::not_found,
                      fmt::format("VM {} needs kernel {}, which does not exist "
                                  "(see: banger kernel list)",
                                  in_quotes(i.name), in_quotes(i.kernel)));
  return caf::unit;
}

caf::expected<void> store::insert_vm(const vm_record& r) {
  if (auto ok = check_vm(r, true); !ok)
    return ok;
  auto sql = fmt::format("INSERT INTO vms ({}) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, "
                         "?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17, ?18, ?19, ?20, ?21, ?22, ?23, ?24, ?25, ?26)",
                         vm_columns);
  stmt s{db_, sql.c_str()};
  bind_vm(s, r);
  if (s.step() != SQLITE_DONE)
    return sql_error(fmt::format("add VM {}", in_quotes(r.info.name)).c_str());
  return caf::unit;
}

caf::expected<void> store::update_vm(const vm_record& r) {
  if (!has_row(db_, "SELECT 1 FROM vms WHERE id = ?1", r.info.id))
    return make_error(ec::not_found,
                      fmt::format("cannot update VM {}: no VM has id {} (it was "
                                  "deleted; see: banger vm list)",
                                  in_quotes(r.info.name), in_quotes(r.info.id)));
  if (auto ok = check_vm(r, false); !ok)
    return ok;
  // Numbered parameters let bind_vm's order (id first) serve here too.
  stmt s{db_, "UPDATE vms SET name = ?2, state = ?3, image = ?4, kernel = ?5, "
              "vcpu = ?6, memory_mib = ?7, pid = ?8, created_at = ?9, "
              "started_at = ?10, boot_ms = ?11, last_error = ?12, dir = ?13, "
              "root_disk = ?14, agent_socket = ?15, qmp_socket = ?16, "
              "serial_log = ?17, accel = ?18, ip = ?19, mac = ?20, tap = ?21, "
              "nat = ?22, work_disk = ?23, disk_bytes = ?24, host_files = ?25, "
              "stages = ?26 WHERE id = ?1"};
  bind_vm(s, r);
  if (s.step() != SQLITE_DONE)
    return sql_error(fmt::format("update VM {}", in_quotes(r.info.name)).c_str());
  return caf::unit;
}

caf::expected<void> store::delete_vm(const std::string& id) {
  stmt s{db_, "DELETE FROM vms WHERE id = ?1"};
  if (s.text(id).step() != SQLITE_DONE)
    return sql_error(fmt::format("delete the VM with id {}", in_quotes(id)).c_str());
  if (sqlite3_changes(db_) == 0)
    return make_error(ec::not_found,
                      fmt::format("no VM has id {} (see: banger vm list)",
                                  in_quotes(id)));
  return caf::unit;
}

caf::expected<std::vector<vm_record>> store::list_vms() {
  auto sql = fmt::format("SELECT {} FROM vms ORDER BY created_at, name", vm_columns);
  stmt s{db_, sql.c_str()};
  std::vector<vm_record> out;
  int rc;
  while ((rc = s.step()) == SQLITE_ROW)
    out.push_back(read_vm(s));
  if (rc != SQLITE_DONE)
    return sql_error("list VMs");
  return out;
}

caf::expected<vm_record> store::find_vm(const std::string& name) {
  auto sql = fmt::format("SELECT {} FROM vms WHERE name = ?1", vm_columns);
  stmt s{db_, sql.c_str()};
  auto rc = s.text(name).step();
  if (rc == SQLITE_ROW)
    return read_vm(s);
  if (rc == SQLITE_DONE)
    return make_error(ec::not_found,
                      fmt::format("no VM named {} (see: banger vm list)",
                                  in_quotes(name)));
  return sql_error(fmt::format("look up VM {}", in_quotes(name)).c_str());
}

caf::expected<std::vector<std::string>>
store::users_of(const char* sql, const std::string& name) {
  stmt s{db_, sql};
  s.text(name);
  std::vector<std::string> out;
  int rc;
  while ((rc = s.step()) == SQLITE_ROW)
    out.push_back(s.col_text(0));
  if (rc != SQLITE_DONE)
    return sql_error(fmt::format("find what uses {}", in_quotes(name)).c_str());
  return out;
}

namespace {

// "cannot delete image "x": it is used by VM "a", VM "b"; delete those
// first, or ...". `rm -f` deletes VMs, never images, so it is offered only
// when VMs are all that stand in the way.
caf::error in_use(std::string_view kind, const std::string& name,
                  const std::vector<std::string>& users) {
  std::string list;
  bool only_vms = true;
  for (const auto& u : users) {
    list += (list.empty() ? "" : ", ") + u;
    only_vms = only_vms && u.rfind("VM ", 0) == 0;
  }
  return make_error(
    ec::bad_state,
    fmt::format("cannot delete {} {}: it is used by {}; delete those first{}",
                kind, in_quotes(name), list,
                only_vms ? fmt::format(", or run banger {} rm -f {} to delete "
                                       "{} with it",
                                       kind, name,
                                       users.size() == 1 ? "that VM"
                                                         : "those VMs")
                         : std::string()));
}

} // namespace

caf::expected<void> store::insert_image(const image_info& x) {
  if (auto why = validate_object_name("image", x.name); !why.empty())
    return make_error(ec::invalid_argument, std::move(why));
  if (has_row(db_, "SELECT 1 FROM images WHERE name = ?1", x.name))
    return make_error(ec::already_exists,
                      fmt::format("an image named {} exists already; choose "
                                  "another name (see: banger image list)",
                                  in_quotes(x.name)));
  if (!x.kernel.empty()
      && !has_row(db_, "SELECT 1 FROM kernels WHERE name = ?1", x.kernel))
    return make_error(ec::not_found,
                      fmt::format("image {} names kernel {}, which does not "
                                  "exist (see: banger kernel list)",
                                  in_quotes(x.name), in_quotes(x.kernel)));
  stmt s{db_, "INSERT INTO images (name, kernel, rootfs, size_bytes, "
              "created_at, source, digest, work_seed) "
              "VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)"};
  s.text(x.name).text_or_null(x.kernel).text(x.rootfs)
    .integer(static_cast<std::int64_t>(x.size_bytes)).text(x.created_at)
    .text(x.source).text(x.digest).text(x.work_seed);
  if (s.step() != SQLITE_DONE)
    return sql_error(fmt::format("add image {}", in_quotes(x.name)).c_str());
  return caf::unit;
}

caf::expected<void> store::delete_image(const std::string& name) {
  auto users = users_of("SELECT 'VM \"' || name || '\"' FROM vms WHERE image = ?1 "
                        "ORDER BY name",
                        name);
  if (!users)
    return users.error();
  if (!users->empty())
    return in_use("image", name, *users);
  stmt s{db_, "DELETE FROM images WHERE name = ?1"};
  if (s.text(name).step() != SQLITE_DONE)
    return sql_error(fmt::format("delete image {}", in_quotes(name)).c_str());
  if (sqlite3_changes(db_) == 0)
    return make_error(ec::not_found,
                      fmt::format("no image named {} (see: banger image list)",
                                  in_quotes(name)));
  return caf::unit;
}

caf::expected<std::vector<image_info>> store::list_images() {
  stmt s{db_, "SELECT name, kernel, rootfs, size_bytes, created_at, source, digest, "
              "work_seed "
              "FROM images "
              "ORDER BY name"};
  std::vector<image_info> out;
  int rc;
  while ((rc = s.step()) == SQLITE_ROW)
    out.push_back(read_image(s));
  if (rc != SQLITE_DONE)
    return sql_error("list images");
  return out;
}

caf::expected<image_info> store::find_image(const std::string& name) {
  stmt s{db_, "SELECT name, kernel, rootfs, size_bytes, created_at, source, digest, "
              "work_seed "
              "FROM images "
              "WHERE name = ?1"};
  auto rc = s.text(name).step();
  if (rc == SQLITE_ROW)
    return read_image(s);
  if (rc == SQLITE_DONE)
    return make_error(ec::not_found,
                      fmt::format("no image named {} (see: banger image list)",
                                  in_quotes(name)));
  return sql_error(fmt::format("look up image {}", in_quotes(name)).c_str());
}

caf::expected<void> store::insert_kernel(const kernel_info& x) {
  if (auto why = validate_object_name("kernel", x.name); !why.empty())
    return make_error(ec::invalid_argument, std::move(why));
  if (has_row(db_, "SELECT 1 FROM kernels WHERE name = ?1", x.name))
    return make_error(ec::already_exists,
                      fmt::format("a kernel named {} exists already; choose "
                                  "another name (see: banger kernel list)",
                                  in_quotes(x.name)));
  stmt s{db_, "INSERT INTO kernels (name, vmlinux, initrd, version, "
              "created_at, source, digest) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)"};
  s.text(x.name).text(x.vmlinux).text(x.initrd).text(x.version)
    .text(x.created_at).text(x.source).text(x.digest);
  if (s.step() != SQLITE_DONE)
    return sql_error(fmt::format("add kernel {}", in_quotes(x.name)).c_str());
  return caf::unit;
}

caf::expected<void> store::delete_kernel(const std::string& name) {
  auto users = users_of("SELECT 'image \"' || name || '\"' FROM images "
                        "WHERE kernel = ?1 "
                        "UNION ALL SELECT 'VM \"' || name || '\"' FROM vms "
                        "WHERE kernel = ?1",
                        name);
  if (!users)
    return users.error();
  if (!users->empty())
    return in_use("kernel", name, *users);
  stmt s{db_, "DELETE FROM kernels WHERE name = ?1"};
  if (s.text(name).step() != SQLITE_DONE)
    return sql_error(fmt::format("delete kernel {}", in_quotes(name)).c_str());
  if (sqlite3_changes(db_) == 0)
    return make_error(ec::not_found,
                      fmt::format("no kernel named {} (see: banger kernel list)",
                                  in_quotes(name)));
  return caf::unit;
}

caf::expected<std::vector<kernel_info>> store::list_kernels() {
  stmt s{db_, "SELECT name, vmlinux, initrd, version, created_at, source, digest "
              "FROM kernels "
              "ORDER BY name"};
  std::vector<kernel_info> out;
  int rc;
  while ((rc = s.step()) == SQLITE_ROW)
    out.push_back(read_kernel(s));
  if (rc != SQLITE_DONE)
    return sql_error("list kernels");
  return out;
}

caf::expected<kernel_info> store::find_kernel(const std::string& name) {
  stmt s{db_, "SELECT name, vmlinux, initrd, version, created_at, source, digest "
              "FROM kernels "
              "WHERE name = ?1"};
  auto rc = s.text(name).step();
  if (rc == SQLITE_ROW)
    return read_kernel(s);
  if (rc == SQLITE_DONE)
    return make_error(ec::not_found,
                      fmt::format("no kernel named {} (see: banger kernel list)",
                                  in_quotes(name)));
  return sql_error(fmt::format("look up kernel {}", in_quotes(name)).c_str());
}

caf::expected<image_info> store::take_image(const std::string& name) {
  auto x = find_image(name);
  if (!x)
    return x;
  if (auto ok = delete_image(name); !ok)
    return std::move(ok.error());
  return x;
}

caf::expected<kernel_info> store::take_kernel(const std::string& name) {
  auto x = find_kernel(name);
  if (!x)
    return x;
  if (auto ok = delete_kernel(name); !ok)
    return std::move(ok.error());
  return x;
}

} // namespace banger
