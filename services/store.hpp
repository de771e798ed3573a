#pragma once
// banger's state database (SQLite): VMs, images and kernels. The daemon opens
// it once and drives it from a single detached actor, so the class holds one
// connection and no lock. Every call blocks on disk I/O.
//
// Names are validated here too (services/names.hpp) and references are
// enforced with foreign keys: a VM's image and kernel, and an image's kernel,
// must exist, and nothing that is in use can be deleted.

#include <memory>
#include <string>
#include <vector>

#include <caf/expected.hpp>

#include "messages/image.hpp"
#include "messages/vm.hpp"

struct sqlite3;

namespace banger {

struct vm_record {
  vm_info info;             // what users see (messages/vm.hpp)
  std::string root_disk;    // qcow2 overlay path
  std::string work_disk;    // raw ext4 holding /root; "" without one
  std::string agent_socket; // host end of the agent port
  std::string qmp_socket;
  std::string serial_log;
  std::string accel;        // "kvm" / "tcg"
  std::string tap;          // the TAP leased while it runs; "" otherwise
};

class store {
public:
  /// Opens (creating if missing) the database at `path`: WAL mode, foreign keys,
  /// busy timeout, then applies pending migrations in one transaction each.
  /// A file that is not a SQLite database, or fails `PRAGMA quick_check`, or has
  /// a schema version newer than this build knows, is refused with a sentence
  /// saying what to do; the file is never modified or overwritten then.
  static caf::expected<std::unique_ptr<store>> open(const std::string& path);

  /// What open() would do to `path` without doing it: lines like
  /// "migration 2: ..."; empty if up to date. Refuses what open() refuses.
  static caf::expected<std::vector<std::string>>
  pending_migrations(const std::string& path);

  struct migration_step {
    int version = 0;
    std::string summary; // one line
  };
  struct migration_plan {
    bool exists = false;     // false: open() would create the file
    int current_version = 0; // the file's schema version (0: none yet)
    int latest_version = 0;  // what this build knows
    std::vector<migration_step> pending; // in the order open() applies them
  };
  /// The same as pending_migrations, structured (bangerd
  /// --check-migrations). Reads through a read-only connection only: the
  /// file (and any -wal/-shm beside it) is left byte for byte as it was.
  static caf::expected<migration_plan> plan_migrations(const std::string& path);

  /// The newest schema version this build knows.
  static int latest_schema_version();

  ~store();
  store(const store&) = delete;
  store& operator=(const store&) = delete;

  int schema_version() const { return version_; }
  /// How many migrations this open() applied (0 when already up to date).
  int migrations_applied() const { return applied_; }

  /// ec::already_exists on a duplicate name or id; ec::not_found if the image
  /// or kernel it names is unknown; ec::invalid_argument on a bad name/state.
  caf::expected<void> insert_vm(const vm_record& r);
  /// Replaces the row with id r.info.id; ec::not_found if missing.
  caf::expected<void> update_vm(const vm_record& r);
  /// ec::not_found if no VM has this id.
  caf::expected<void> delete_vm(const std::string& id);
  /// Ordered by created_at, then name.
  caf::expected<std::vector<vm_record>> list_vms();
  /// ec::not_found: `no VM named "x" (see: banger vm list)`.
  caf::expected<vm_record> find_vm(const std::string& name);

  /// ec::not_found if its kernel (when not empty) is unknown.
  caf::expected<void> insert_image(const image_info& x);
  /// ec::bad_state while VMs use it.
  caf::expected<void> delete_image(const std::string& name);
  caf::expected<std::vector<image_info>> list_images(); // by name
  caf::expected<image_info> find_image(const std::string& name);

  caf::expected<void> insert_kernel(const kernel_info& x);
  /// ec::bad_state while images or VMs use it.
  caf::expected<void> delete_kernel(const std::string& name);
  caf::expected<std::vector<kernel_info>> list_kernels(); // by name
  /// find + delete in one call (`image rm` / `kernel rm`): the deleted row,
  /// or the refusal of delete_image / delete_kernel.
  caf::expected<image_info> take_image(const std::string& name);
  caf::expected<kernel_info> take_kernel(const std::string& name);
  caf::expected<kernel_info> find_kernel(const std::string& name);

private:
  store(sqlite3* db, std::string path);

  caf::error sql_error(const char* doing) const;
  caf::expected<void> check_vm(const vm_record& r, bool inserting);
  caf::expected<std::vector<std::string>> users_of(const char* sql,
                                                   const std::string& name);

  sqlite3* db_;
  std::string path_;
  int version_ = 0;
  int applied_ = 0;
};

} // namespace banger
