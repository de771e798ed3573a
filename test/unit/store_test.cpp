// The SQLite store: round trips, refusals, migrations, and that files it
// refuses are left exactly as they were.

#include "services/store.hpp"

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <random>

#include <gtest/gtest.h>
#include <sqlite3.h>

#include "raw_sql.hpp"
#include "services/error.hpp"

namespace banger {
namespace {

namespace fs = std::filesystem;

std::string read_bytes(const fs::path& p) {
  std::ifstream in{p, std::ios::binary};
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

void write_bytes(const fs::path& p, const std::string& bytes) {
  std::ofstream out{p, std::ios::binary};
  out << bytes;
}

std::string random_bytes(std::size_t n, std::uint32_t seed) {
  std::mt19937 rng{seed};
  std::string s(n, '\0');
  for (auto& c : s)
    c = static_cast<char>(rng() & 0xff);
  return s;
}

void raw_sql(const fs::path& p, const char* sql) {
  test::raw_sql(p.string(), sql);
}

kernel_info make_kernel(std::string name) {
  return {name, "/k/" + name + "/vmlinux", "/k/" + name + "/initrd.img",
          "6.1.0-28-amd64", "2024-05-01T10:00:00Z", "catalog:" + name,
          "sha256:k"};
}

image_info make_image(std::string name, std::string kernel) {
  return {name, std::move(kernel), "/i/" + name + "/rootfs.ext4",
          (std::uint64_t{1} << 40) + 7, "2024-05-02T10:00:00Z",
          "registry.example/" + name + ":1", "sha256:i", "/i/" + name + "/work-seed.ext4"};
}

vm_record make_vm(std::string id, std::string name, std::string created_at) {
  vm_record r;
  r.info.id = std::move(id);
  r.info.name = name;
  r.info.state = "created";
  r.info.image = "debian";
  r.info.kernel = "k6";
  r.info.vcpu = 2;
  r.info.memory_mib = 512;
  r.info.pid = 0;
  r.info.created_at = std::move(created_at);
  r.info.dir = "/v/" + name;
  r.root_disk = "/v/" + name + "/root.qcow2";
  r.work_disk = "/v/" + name + "/work.ext4";
  r.info.disk_bytes = (std::uint64_t{1} << 40) + 3;
  r.agent_socket = "/v/" + name + "/agent.sock";
  r.qmp_socket = "/v/" + name + "/qmp.sock";
  r.serial_log = "/v/" + name + "/serial.log";
  r.accel = "kvm";
  return r;
}

void expect_same(const vm_record& a, const vm_record& b) {
  EXPECT_EQ(a.info.id, b.info.id);
  EXPECT_EQ(a.info.name, b.info.name);
  EXPECT_EQ(a.info.state, b.info.state);
  EXPECT_EQ(a.info.image, b.info.image);
  EXPECT_EQ(a.info.kernel, b.info.kernel);
  EXPECT_EQ(a.info.vcpu, b.info.vcpu);
  EXPECT_EQ(a.info.disk_bytes, b.info.disk_bytes);
  EXPECT_EQ(a.work_disk, b.work_disk);
  EXPECT_EQ(a.info.host_files, b.info.host_files);
  ASSERT_EQ(a.info.stages.size(), b.info.stages.size());
  for (std::size_t i = 0; i < a.info.stages.size(); ++i) {
    EXPECT_EQ(a.info.stages[i].name, b.info.stages[i].name);
    EXPECT_EQ(a.info.stages[i].ms, b.info.stages[i].ms);
  }
  EXPECT_EQ(a.info.memory_mib, b.info.memory_mib);
  EXPECT_EQ(a.info.pid, b.info.pid);
  EXPECT_EQ(a.info.created_at, b.info.created_at);
  EXPECT_EQ(a.info.started_at, b.info.started_at);
  EXPECT_EQ(a.info.boot_ms, b.info.boot_ms);
  EXPECT_EQ(a.info.last_error, b.info.last_error);
  EXPECT_EQ(a.info.dir, b.info.dir);
  EXPECT_EQ(a.root_disk, b.root_disk);
  EXPECT_EQ(a.agent_socket, b.agent_socket);
  EXPECT_EQ(a.qmp_socket, b.qmp_socket);
  EXPECT_EQ(a.serial_log, b.serial_log);
  EXPECT_EQ(a.accel, b.accel);
}

#define ASSERT_OK(expr)                                                        \
  do {                                                                         \
    auto&& ok_ = (expr);                                                       \
    ASSERT_TRUE(ok_) << #expr << ": " << error_message(ok_.error());           \
  } while (false)

#define EXPECT_EC(expr, code)                                                  \
  do {                                                                         \
    auto&& r_ = (expr);                                                        \
    ASSERT_FALSE(r_) << #expr << " should fail";                               \
    EXPECT_EQ(error_code(r_.error()), code) << error_message(r_.error());      \
  } while (false)

class store_test : public ::testing::Test {
protected:
  void SetUp() override {
    auto tmpl = (fs::temp_directory_path() / "banger-store-XXXXXX").string();
    ASSERT_NE(mkdtemp(tmpl.data()), nullptr);
    dir_ = tmpl;
    db_path_ = dir_ / "state.db";
  }
  void TearDown() override {
    std::error_code ignored;
    fs::remove_all(dir_, ignored);
  }

  std::unique_ptr<store> open() {
    auto s = store::open(db_path_.string());
    EXPECT_TRUE(s) << error_message(s.error());
    return s ? std::move(*s) : nullptr;
  }

  // A store with kernel "k6" and image "debian", which make_vm refers to.
  std::unique_ptr<store> open_seeded() {
    auto s = open();
    if (s) {
      EXPECT_TRUE(s->insert_kernel(make_kernel("k6")));
      EXPECT_TRUE(s->insert_image(make_image("debian", "k6")));
    }
    return s;
  }

  std::size_t files_in_dir() const {
    return static_cast<std::size_t>(
      std::distance(fs::directory_iterator(dir_), fs::directory_iterator()));
  }

  fs::path dir_;
  fs::path db_path_;
};

TEST_F(store_test, open_creates_and_migrates) {
  auto s = open();
  ASSERT_TRUE(s);
  EXPECT_TRUE(fs::exists(db_path_));
  EXPECT_EQ(s->schema_version(), store::latest_schema_version());
  EXPECT_EQ(s->migrations_applied(), store::latest_schema_version());
  EXPECT_GE(store::latest_schema_version(), 1);
}

TEST_F(store_test, kernel_round_trip) {
  auto s = open();
  ASSERT_TRUE(s);
  auto k = make_kernel("k6");
  ASSERT_OK(s->insert_kernel(k));
  auto found = s->find_kernel("k6");
  ASSERT_OK(found);
  EXPECT_EQ(found->name, k.name);
  EXPECT_EQ(found->vmlinux, k.vmlinux);
  EXPECT_EQ(found->initrd, k.initrd);
  EXPECT_EQ(found->version, k.version);
  EXPECT_EQ(found->created_at, k.created_at);
  ASSERT_OK(s->insert_kernel(make_kernel("a-first")));
  auto all = s->list_kernels();
  ASSERT_OK(all);
  ASSERT_EQ(all->size(), 2u);
  EXPECT_EQ((*all)[0].name, "a-first");
  EXPECT_EQ((*all)[1].name, "k6");
  ASSERT_OK(s->delete_kernel("k6"));
  EXPECT_EC(s->find_kernel("k6"), ec::not_found);
  EXPECT_EC(s->delete_kernel("k6"), ec::not_found);
}

TEST_F(store_test, image_round_trip) {
  auto s = open();
  ASSERT_TRUE(s);
  ASSERT_OK(s->insert_kernel(make_kernel("k6")));
  auto img = make_image("debian", "k6");
  ASSERT_OK(s->insert_image(img));
  ASSERT_OK(s->insert_image(make_image("alpine", ""))); // no default kernel
  auto found = s->find_image("debian");
  ASSERT_OK(found);
  EXPECT_EQ(found->name, img.name);
  EXPECT_EQ(found->kernel, img.kernel);
  EXPECT_EQ(found->rootfs, img.rootfs);
  EXPECT_EQ(found->size_bytes, img.size_bytes);
  EXPECT_EQ(found->created_at, img.created_at);
  EXPECT_EQ(found->source, "registry.example/debian:1");
  EXPECT_EQ(found->digest, "sha256:i");
  EXPECT_EQ(found->work_seed, "/i/debian/work-seed.ext4");
  auto alpine = s->find_image("alpine");
  ASSERT_OK(alpine);
  EXPECT_EQ(alpine->kernel, "");
  auto all = s->list_images();
  ASSERT_OK(all);
  ASSERT_EQ(all->size(), 2u);
  EXPECT_EQ((*all)[0].name, "alpine");
  ASSERT_OK(s->delete_image("debian"));
  EXPECT_EC(s->find_image("debian"), ec::not_found);
  EXPECT_EC(s->delete_image("debian"), ec::not_found);
}

TEST_F(store_test, vm_round_trip_update_and_delete) {
  auto s = open_seeded();
  ASSERT_TRUE(s);
  auto vm = make_vm("a1b2", "web", "2024-06-01T00:00:00Z");
  vm.info.boot_ms = 1234;
  vm.info.last_error = "it's \"quoted\"; DROP TABLE vms; --";
  ASSERT_OK(s->insert_vm(vm));
  auto found = s->find_vm("web");
  ASSERT_OK(found);
  expect_same(*found, vm);

  vm.info.state = "running";
  vm.info.pid = 4242;
  vm.info.started_at = "2024-06-01T00:00:05Z";
  vm.info.boot_ms = std::uint64_t{1} << 40;
  vm.accel = "tcg";
  vm.info.image = "";
  vm.info.disk_bytes = 20ull << 30;
  vm.info.host_files = false;
  vm.info.stages = {{"disks", 7}, {"network", 2}, {"vmm", 30}, {"agent", 3900}};
  ASSERT_OK(s->update_vm(vm));
  found = s->find_vm("web");
  ASSERT_OK(found);
  expect_same(*found, vm);

  ASSERT_OK(s->delete_vm("a1b2"));
  auto gone = s->find_vm("web");
  ASSERT_FALSE(gone);
  EXPECT_EQ(error_code(gone.error()), ec::not_found);
  EXPECT_EQ(error_message(gone.error()), "no VM named \"web\" (see: banger vm list)");
  EXPECT_EC(s->delete_vm("a1b2"), ec::not_found);
  EXPECT_EC(s->update_vm(vm), ec::not_found);
}

TEST_F(store_test, vms_are_listed_by_creation_then_name) {
  auto s = open_seeded();
  ASSERT_TRUE(s);
  ASSERT_OK(s->insert_vm(make_vm("3", "c", "2024-06-03T00:00:00Z")));
  ASSERT_OK(s->insert_vm(make_vm("2", "b", "2024-06-01T00:00:00Z")));
  ASSERT_OK(s->insert_vm(make_vm("1", "a", "2024-06-01T00:00:00Z")));
  ASSERT_OK(s->insert_vm(make_vm("0", "z", "2024-05-31T23:59:59Z")));
  auto all = s->list_vms();
  ASSERT_OK(all);
  std::vector<std::string> names;
  for (const auto& r : *all)
    names.push_back(r.info.name);
  EXPECT_EQ(names, (std::vector<std::string>{"z", "a", "b", "c"}));
}

TEST_F(store_test, duplicates_are_already_exists) {
  auto s = open_seeded();
  ASSERT_TRUE(s);
  ASSERT_OK(s->insert_vm(make_vm("id1", "web", "t1")));
  EXPECT_EC(s->insert_vm(make_vm("id2", "web", "t2")), ec::already_exists);
  EXPECT_EC(s->insert_vm(make_vm("id1", "other", "t2")), ec::already_exists);
  EXPECT_EC(s->insert_image(make_image("debian", "k6")), ec::already_exists);
  EXPECT_EC(s->insert_kernel(make_kernel("k6")), ec::already_exists);
  // Renaming onto another VM's name is a duplicate too.
  ASSERT_OK(s->insert_vm(make_vm("id2", "db", "t2")));
  auto renamed = make_vm("id2", "web", "t2");
  EXPECT_EC(s->update_vm(renamed), ec::already_exists);
  auto all = s->list_vms();
  ASSERT_OK(all);
  EXPECT_EQ(all->size(), 2u);
}

TEST_F(store_test, duplicate_message_names_the_vm) {
  auto s = open_seeded();
  ASSERT_TRUE(s);
  ASSERT_OK(s->insert_vm(make_vm("id1", "web", "t1")));
  auto r = s->insert_vm(make_vm("id2", "web", "t2"));
  ASSERT_FALSE(r);
  EXPECT_NE(error_message(r.error()).find("\"web\""), std::string::npos)
    << error_message(r.error());
}

TEST_F(store_test, missing_lookups_are_not_found) {
  auto s = open();
  ASSERT_TRUE(s);
  EXPECT_EC(s->find_vm("nope"), ec::not_found);
  EXPECT_EC(s->find_image("nope"), ec::not_found);
  EXPECT_EC(s->find_kernel("nope"), ec::not_found);
  auto r = s->find_image("nope");
  ASSERT_FALSE(r);
  EXPECT_EQ(error_message(r.error()), "no image named \"nope\" (see: banger image list)");
}

TEST_F(store_test, references_must_exist) {
  auto s = open_seeded();
  ASSERT_TRUE(s);
  auto vm = make_vm("id1", "web", "t1");
  vm.info.image = "ubuntu";
  EXPECT_EC(s->insert_vm(vm), ec::not_found);
  vm.info.image = "debian";
  vm.info.kernel = "k7";
  EXPECT_EC(s->insert_vm(vm), ec::not_found);
  EXPECT_EC(s->insert_image(make_image("arch", "k7")), ec::not_found);
}

TEST_F(store_test, objects_in_use_cannot_be_deleted) {
  auto s = open_seeded();
  ASSERT_TRUE(s);
  ASSERT_OK(s->insert_vm(make_vm("id1", "web", "t1")));
  auto r = s->delete_image("debian");
  ASSERT_FALSE(r);
  EXPECT_EQ(error_code(r.error()), ec::bad_state);
  EXPECT_NE(error_message(r.error()).find("VM \"web\""), std::string::npos)
    << error_message(r.error());
  auto k = s->delete_kernel("k6");
  ASSERT_FALSE(k);
  EXPECT_EQ(error_code(k.error()), ec::bad_state);
  EXPECT_NE(error_message(k.error()).find("image \"debian\""), std::string::npos);
  ASSERT_OK(s->delete_vm("id1"));
  ASSERT_OK(s->delete_image("debian"));
  ASSERT_OK(s->delete_kernel("k6"));
}

TEST_F(store_test, invalid_names_and_states_are_refused) {
  auto s = open_seeded();
  ASSERT_TRUE(s);
  EXPECT_EC(s->insert_vm(make_vm("id1", "Bad_Name", "t1")), ec::invalid_argument);
  EXPECT_EC(s->insert_image(make_image("a.b", "")), ec::invalid_argument);
  EXPECT_EC(s->insert_kernel(make_kernel("6.1")), ec::invalid_argument);
  auto vm = make_vm("id1", "web", "t1");
  vm.info.state = "flying";
  EXPECT_EC(s->insert_vm(vm), ec::invalid_argument);
  vm = make_vm("", "web", "t1");
  EXPECT_EC(s->insert_vm(vm), ec::invalid_argument);
}

TEST_F(store_test, reopen_keeps_data_and_skips_migrations) {
  {
    auto s = open_seeded();
    ASSERT_TRUE(s);
    ASSERT_OK(s->insert_vm(make_vm("id1", "web", "t1")));
  }
  auto s = open();
  ASSERT_TRUE(s);
  EXPECT_EQ(s->migrations_applied(), 0);
  EXPECT_EQ(s->schema_version(), store::latest_schema_version());
  ASSERT_OK(s->find_vm("web"));
  ASSERT_OK(s->find_image("debian"));
  ASSERT_OK(s->find_kernel("k6"));
}

TEST_F(store_test, an_empty_file_is_a_new_database) {
  write_bytes(db_path_, "");
  auto s = open();
  ASSERT_TRUE(s);
  EXPECT_EQ(s->migrations_applied(), store::latest_schema_version());
}

TEST_F(store_test, garbage_is_refused_and_left_untouched) {
  auto garbage = random_bytes(8192, 7);
  write_bytes(db_path_, garbage);
  auto s = store::open(db_path_.string());
  ASSERT_FALSE(s);
  EXPECT_EQ(error_code(s.error()), ec::bad_state);
  auto msg = error_message(s.error());
  EXPECT_NE(msg.find(db_path_.string()), std::string::npos) << msg;
  EXPECT_NE(msg.find("not a SQLite database"), std::string::npos) << msg;
  EXPECT_EQ(read_bytes(db_path_), garbage);
  EXPECT_EQ(files_in_dir(), 1u); // no -wal, -shm or -journal either
  EXPECT_EC(store::pending_migrations(db_path_.string()), ec::bad_state);
  EXPECT_EQ(read_bytes(db_path_), garbage);
}

TEST_F(store_test, damaged_database_is_refused_and_left_untouched) {
  // A real SQLite header with garbage behind it: it passes the magic check
  // and must be caught by SQLite itself.
  std::string bytes("SQLite format 3\0", 16);
  bytes += random_bytes(8192 - 16, 11);
  write_bytes(db_path_, bytes);
  auto s = store::open(db_path_.string());
  ASSERT_FALSE(s);
  EXPECT_EQ(error_code(s.error()), ec::bad_state) << error_message(s.error());
  EXPECT_EQ(read_bytes(db_path_), bytes);
}

TEST_F(store_test, a_newer_schema_is_refused_and_left_untouched) {
  {
    auto s = open();
    ASSERT_TRUE(s);
  }
  raw_sql(db_path_, "PRAGMA journal_mode = DELETE; PRAGMA user_version = 99;");
  auto before = read_bytes(db_path_);
  auto s = store::open(db_path_.string());
  ASSERT_FALSE(s);
  EXPECT_EQ(error_code(s.error()), ec::bad_state);
  auto msg = error_message(s.error());
  EXPECT_NE(msg.find("99"), std::string::npos) << msg;
  EXPECT_NE(msg.find("upgrade banger"), std::string::npos) << msg;
  EXPECT_EQ(read_bytes(db_path_), before);
  EXPECT_EC(store::pending_migrations(db_path_.string()), ec::bad_state);
}

TEST_F(store_test, another_programs_database_is_refused) {
  raw_sql(db_path_, "CREATE TABLE notes (body TEXT); INSERT INTO notes VALUES ('x');");
  auto before = read_bytes(db_path_);
  auto s = store::open(db_path_.string());
  ASSERT_FALSE(s);
  EXPECT_EQ(error_code(s.error()), ec::bad_state);
  EXPECT_EQ(read_bytes(db_path_), before);
}

TEST_F(store_test, pending_migrations_on_a_missing_file) {
  auto lines = store::pending_migrations(db_path_.string());
  ASSERT_OK(lines);
  ASSERT_EQ(lines->size(), static_cast<std::size_t>(store::latest_schema_version()));
  EXPECT_EQ((*lines)[0].rfind("migration 1: ", 0), 0u) << (*lines)[0];
  EXPECT_FALSE(fs::exists(db_path_)); // it only looks
}

TEST_F(store_test, pending_migrations_on_an_up_to_date_file) {
  {
    auto s = open();
    ASSERT_TRUE(s);
  }
  auto lines = store::pending_migrations(db_path_.string());
  ASSERT_OK(lines);
  EXPECT_TRUE(lines->empty());
}

TEST_F(store_test, pending_migrations_on_an_old_file) {
  // A file at version 0 with no tables, as an interrupted first start leaves.
  raw_sql(db_path_, "PRAGMA user_version = 0;");
  auto lines = store::pending_migrations(db_path_.string());
  ASSERT_OK(lines);
  EXPECT_EQ(lines->size(), static_cast<std::size_t>(store::latest_schema_version()));
  auto s = open();
  ASSERT_TRUE(s);
  EXPECT_EQ(s->migrations_applied(), store::latest_schema_version());
}

TEST_F(store_test, a_version_3_file_upgrades_and_keeps_its_vms) {
  // A state.db as banger wrote it before work disks (v3): the columns of
  // migrations 4 and 5 removed from a current file holding one VM.
  {
    auto s = open_seeded();
    ASSERT_TRUE(s);
    ASSERT_OK(s->insert_vm(make_vm("id1", "old", "2024-06-01T00:00:00Z")));
  }
  raw_sql(db_path_,
          "ALTER TABLE vms DROP COLUMN stages; ALTER TABLE vms DROP COLUMN host_files; "
          "ALTER TABLE vms DROP COLUMN disk_bytes; ALTER TABLE vms DROP COLUMN work_disk; "
          "ALTER TABLE images DROP COLUMN work_seed; PRAGMA user_version = 3;");
  auto lines = store::pending_migrations(db_path_.string());
  ASSERT_OK(lines);
  ASSERT_EQ(lines->size(), static_cast<std::size_t>(store::latest_schema_version() - 3));
  EXPECT_EQ((*lines)[0].rfind("migration 4: ", 0), 0u) << (*lines)[0];
  auto s = open();
  ASSERT_TRUE(s);
  EXPECT_EQ(s->migrations_applied(), store::latest_schema_version() - 3);
  auto vm = s->find_vm("old");
  ASSERT_OK(vm);
  EXPECT_EQ(vm->info.disk_bytes, 0u); // /root stays on its root disk
  EXPECT_EQ(vm->work_disk, "");
  EXPECT_TRUE(vm->info.host_files);
  EXPECT_TRUE(vm->info.stages.empty());
  EXPECT_EQ(vm->root_disk, "/v/old/root.qcow2");
  auto img = s->find_image("debian");
  ASSERT_OK(img);
  EXPECT_EQ(img->work_seed, "");
}

TEST_F(store_test, an_unwritable_directory_is_unavailable) {
  auto s = store::open((dir_ / "missing-dir" / "state.db").string());
  ASSERT_FALSE(s);
  EXPECT_EQ(error_code(s.error()), ec::unavailable) << error_message(s.error());
}

TEST_F(store_test, network_identity_round_trips_and_an_address_is_held_once) {
  auto s = open_seeded();
  ASSERT_TRUE(s);
  auto a = make_vm("n1", "alpha", "t1");
  a.info.ip = "172.16.0.2";
  a.info.mac = "02:62:67:10:00:02";
  a.info.nat = true;
  a.tap = "bgtap0000abcd";
  ASSERT_OK(s->insert_vm(a));
  auto back = s->find_vm("alpha");
  ASSERT_TRUE(back);
  EXPECT_EQ(back->info.ip, "172.16.0.2");
  EXPECT_EQ(back->info.mac, "02:62:67:10:00:02");
  EXPECT_TRUE(back->info.nat);
  EXPECT_EQ(back->tap, "bgtap0000abcd");
  // Another VM can never hold the same address...
  auto b = make_vm("n2", "beta", "t2");
  b.info.ip = "172.16.0.2";
  EXPECT_EC(s->insert_vm(b), ec::already_exists);
  // ...while any number may have none (no networking).
  auto c = make_vm("n3", "gamma", "t3");
  auto d = make_vm("n4", "delta", "t4");
  ASSERT_OK(s->insert_vm(c));
  ASSERT_OK(s->insert_vm(d));
  // Deleting the row releases the address.
  ASSERT_OK(s->delete_vm("n1"));
  ASSERT_OK(s->insert_vm(b));
}

} // namespace
} // namespace banger
