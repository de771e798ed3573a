#include "test/actors/world.hpp"

#include "actors/network.hpp"
#include "actors/puller.hpp"

#include <filesystem>
#include <stdexcept>
#include <thread>

#include <caf/all.hpp>
#include <caf/typed_event_based_actor.hpp>

#include "actors/store_actor.hpp"
#include "actors/vm_actor.hpp"
#include "actors/vm_manager.hpp"
#include "services/timefmt.hpp"

namespace banger::test {

namespace fs = std::filesystem;

// -- helpers
// --------------------------------------------------------------------

temp_dir::temp_dir() {
  char tmpl[] = "/tmp/banger-act-XXXXXX";
  if (::mkdtemp(tmpl) == nullptr)
    throw std::runtime_error("mkdtemp failed");
  path_ = tmpl;
}

temp_dir::~temp_dir() {
  std::error_code ec;
  fs::remove_all(path_, ec);
}

bool wait_until(const std::function<bool()>& pred,
                std::chrono::milliseconds timeout) {
  auto deadline = std::chrono::steady_clock::now() + timeout;
  for (;;) {
    if (pred())
      return true;
    if (std::chrono::steady_clock::now() >= deadline)
      return false;
    std::this_thread::sleep_for(10ms);
  }
}

std::vector<std::string> entries(const std::string& dir) {
  std::vector<std::string> out;
  std::error_code ec;
  for (auto& e : fs::directory_iterator(dir, ec))
    out.push_back(e.path().filename().string());
  return out;
}

daemon_config test_config(const std::string& root) {
  daemon_config cfg;
  cfg.paths.state_dir = root + "/state";
  cfg.paths.config_dir = root + "/config";
  cfg.paths.runtime_dir = root + "/run";
  cfg.stop_timeout_s = 5;
  cfg.boot_timeout_s = 10;
  cfg.accel = "tcg";
  for (auto dir : {cfg.paths.state_dir, cfg.paths.vms_dir(),
                   cfg.paths.runtime_dir, root + "/s", root + "/images"})
    fs::create_directories(dir);
  return cfg;
}

void seed(store& db, const std::string& root) {
  auto now = now_rfc3339();
  auto check = [](caf::expected<void> x) {
    if (!x)
      throw std::runtime_error("seeding the store failed: "
                               + error_message(x.error()));
  };
  check(
      db.insert_kernel(kernel_info{"k1", root + "/images/vmlinux",
                                   root + "/images/initrd.img", "6.1.0", now,
                                   "", ""}));
  check(db.insert_image(image_info{
      "default", "k1", root + "/images/default.ext4", 1 << 20, now, "", "",
      root + "/images/default-seed.ext4"}));
  check(db.insert_image(
      image_info{"alt", "k1", root + "/images/alt.ext4", 1 << 20, now, "", "", ""}));
}

vm_record make_record(const daemon_config& cfg, const std::string& name,
                      const std::string& state, std::int64_t pid) {
  vm_record rec;
  rec.info.id = random_id();
  rec.info.name = name;
  rec.info.state = state;
  rec.info.image = "default";
  rec.info.kernel = "k1";
  rec.info.vcpu = 1;
  rec.info.memory_mib = 256;
  rec.info.pid = pid;
  rec.info.created_at = now_rfc3339();
  rec.info.dir = cfg.paths.vms_dir() + "/" + rec.info.id;
  rec.root_disk = rec.info.dir + "/root.qcow2";
  rec.work_disk = rec.info.dir + "/work.ext4";
  rec.info.disk_bytes = 1ull << 30;
  rec.serial_log = rec.info.dir + "/serial.log";
  rec.accel = "tcg";
  return rec;
}

caf::behavior output_sink(caf::event_based_actor*,
                          std::shared_ptr<sink_log> log) {
  return {
      [=](atom::started, std::uint64_t, const caf::actor& agent,
          std::uint64_t call) {
        std::lock_guard<std::mutex> guard(log->mtx);
        ++log->started;
        log->agent = agent;
        log->call = call;
      },
      [=](atom::output, std::uint64_t, const output_chunk& chunk) {
        std::lock_guard<std::mutex> guard(log->mtx);
        (chunk.stream == 2 ? log->err : log->out) += chunk.data;
      },
      [=](atom::progress, std::uint64_t, const progress_event& ev) {
        std::lock_guard<std::mutex> guard(log->mtx);
        log->stages.push_back(ev.stage);
      },
      [=](atom::credit, atom::input, std::uint64_t, std::uint64_t bytes) {
        std::lock_guard<std::mutex> guard(log->mtx);
        log->stdin_taken += bytes;
      },
  };
}

namespace {

caf::actor_system_config& with_types(caf::actor_system_config& cfg) {
  cfg.add_message_types<caf::id_block::banger>();
  cfg.add_message_types<caf::id_block::banger_daemon>();
  cfg.add_message_types<caf::id_block::banger_dns>();
  cfg.add_message_types<caf::id_block::banger_net>();
  cfg.add_message_types<caf::id_block::banger_pull>();
  return cfg;
}

caf::actor_system_config& deterministic(caf::actor_system_config& cfg) {
  cfg.set("scheduler.policy", caf::atom("testing"));
  return with_types(cfg);
}

} // namespace

// -- live world
// -----------------------------------------------------------------

live_world::live_world()
    : config(test_config(tmp_.path())),
      driver(std::make_shared<fake_driver>(tmp_.path() + "/s")),
      sys(with_types(cfg)), self(sys), out(std::make_shared<sink_log>()) {
  sink = sys.spawn(output_sink, out);
}

live_world::~live_world() {
  if (manager) {
    // The manager stops its vm actors (and their watchers) as it goes.
    self->send_exit(manager, caf::exit_reason::user_shutdown);
    self->wait_for(manager);
  }
  driver->shutdown();
  if (store)
    self->send_exit(store, caf::exit_reason::user_shutdown);
  self->send_exit(sink, caf::exit_reason::user_shutdown);
}

void live_world::start(const std::function<void(banger::store&)>& prepare) {
  auto db = store::open(config.paths.database());
  if (!db)
    throw std::runtime_error("cannot open the store: "
                             + error_message(db.error()));
  seed(**db, root());
  if (prepare)
    prepare(**db);
  auto existing = (*db)->list_vms();
  if (!existing)
    throw std::runtime_error("cannot list VMs: "
                             + error_message(existing.error()));
  store = spawn_store(sys, std::move(*db));
  manager = spawn_vm_manager(sys, std::make_shared<const daemon_config>(config),
                             driver, store, std::move(*existing));
}

caf::expected<vm_info> live_world::create(vm_spec spec) {
  return call<vm_info>(manager, atom::create_v, std::move(spec), sink,
                       std::uint64_t{1});
}

caf::expected<vm_info> live_world::create(const std::string& name) {
  vm_spec spec;
  spec.name = name;
  return create(std::move(spec));
}

caf::expected<vm_info> live_world::get(const std::string& name) {
  return call<vm_info>(manager, atom::get_v, name);
}

caf::expected<vm_info> live_world::stop(const std::string& name,
                                        std::uint32_t timeout_s) {
  return call<vm_info>(manager, atom::stop_v, name, timeout_s);
}

caf::expected<vm_info> live_world::start_vm(const std::string& name) {
  return call<vm_info>(manager, atom::start_v, name, sink, std::uint64_t{2});
}

caf::expected<exec_result> live_world::exec(const std::string& name,
                                            std::vector<std::string> argv) {
  exec_spec spec;
  spec.argv = std::move(argv);
  return call<exec_result>(manager, atom::exec_v, name, std::move(spec), sink,
                           std::uint64_t{3});
}

caf::expected<bool> live_world::del(const std::string& name, bool force) {
  return call<bool>(manager, atom::del_v, name, force);
}

std::vector<vm_info> live_world::list() {
  auto xs = call<vm_list>(manager, atom::list_v);
  if (!xs)
    throw std::runtime_error("list failed: " + error_message(xs.error()));
  return xs->vms;
}

std::vector<vm_record> live_world::rows() {
  auto xs = call<std::vector<vm_record>>(store, atom::list_v);
  if (!xs)
    throw std::runtime_error("store list failed: " + error_message(xs.error()));
  return *xs;
}

std::vector<std::string> live_world::vm_dirs() const {
  return entries(config.paths.vms_dir());
}

// -- deterministic world
// ----------------------------------------------------------

namespace {

caf::result<bool> done(caf::expected<void> x) {
  if (!x)
    return std::move(x.error());
  return true;
}

/// store_actor over a real store, but scheduled: the coordinator runs it.
store_actor::behavior_type scheduled_store(store_actor::pointer,
                                           std::shared_ptr<store> db) {
  return {
      [db](atom::create, const vm_record& r) { return done(db->insert_vm(r)); },
      [db](atom::put, const vm_record& r) { return done(db->update_vm(r)); },
      [db](atom::del, const std::string& id) {
        return done(db->delete_vm(id));
      },
      [db](atom::list) -> caf::result<std::vector<vm_record>> {
        return db->list_vms();
      },
      [db](atom::image, atom::get, const std::string& name)
          -> caf::result<image_info> { return db->find_image(name); },
      [db](atom::image, atom::list) -> caf::result<image_list> {
        auto xs = db->list_images();
        if (!xs)
          return std::move(xs.error());
        return image_list{std::move(*xs)};
      },
      [db](atom::image, atom::create, const image_info& x) {
        return done(db->insert_image(x));
      },
      [db](atom::kernel, atom::get, const std::string& name)
          -> caf::result<kernel_info> { return db->find_kernel(name); },
      [db](atom::kernel, atom::list) -> caf::result<kernel_list> {
        auto xs = db->list_kernels();
        if (!xs)
          return std::move(xs.error());
        return kernel_list{std::move(*xs)};
      },
      [db](atom::kernel, atom::create, const kernel_info& x) {
        return done(db->insert_kernel(x));
      },
      [db](atom::image, atom::del, const std::string& name)
          -> caf::result<image_info> { return db->take_image(name); },
      [db](atom::kernel, atom::del, const std::string& name)
          -> caf::result<kernel_info> { return db->take_kernel(name); },
  };
}

caf::error not_here() {
  return make_error(ec::internal, "the manager stand-in does not do this");
}

/// The manager as the vm actor sees it: records updated/removed.
vm_manager_actor::behavior_type
recording_manager(vm_manager_actor::pointer, std::shared_ptr<manager_log> log) {
  return {
      [](atom::create, vm_spec&, caf::actor,
         std::uint64_t) -> caf::result<vm_info> { return not_here(); },
      [](atom::list) { return vm_list{}; },
      [](atom::get, const std::string&) -> caf::result<vm_info> {
        return not_here();
      },
      [](atom::start, const std::string&, caf::actor,
         std::uint64_t) -> caf::result<vm_info> { return not_here(); },
      [](atom::stop, const std::string&,
         std::uint32_t) -> caf::result<vm_info> { return not_here(); },
      [](atom::exec, const std::string&, exec_spec&, caf::actor,
         std::uint64_t) -> caf::result<exec_result> { return not_here(); },
      [](atom::del, const std::string&, bool) -> caf::result<bool> {
        return not_here();
      },
      [](atom::put, vm_set_request&) -> caf::result<vm_info> { return not_here(); },
      [](atom::kill, const std::string&, std::int32_t) -> caf::result<vm_info> {
        return not_here();
      },
      [](atom::ports, const std::string&) -> caf::result<agent_ports_reply> {
        return not_here();
      },
      [](atom::session, atom::start, const std::string&,
         session_start_request&) -> caf::result<session_info> {
        return not_here();
      },
      [](atom::session, atom::list,
         const std::string&) -> caf::result<session_list> {
        return not_here();
      },
      [](atom::session, atom::stop, const std::string&,
         session_stop_request&) -> caf::result<session_info> {
        return not_here();
      },
      [](atom::session, atom::attach, const std::string&,
         session_attach_request&, caf::actor,
         std::uint64_t) -> caf::result<session_info> {
        return not_here();
      },
      [](atom::status) { return daemon_status{}; },
      [log](atom::updated, vm_info& info) {
        log->updates.push_back(std::move(info));
      },
      [log](atom::removed, const std::string& name) {
        log->removed.push_back(name);
      },
  };
}

std::shared_ptr<store> open_seeded(const daemon_config& config,
                                   const std::string& root) {
  auto db = store::open(config.paths.database());
  if (!db)
    throw std::runtime_error("cannot open the store: "
                             + error_message(db.error()));
  seed(**db, root);
  return std::shared_ptr<store>(std::move(*db));
}

} // namespace

det_world::det_world()
    : config(test_config(tmp.path())),
      driver(std::make_shared<fake_driver>(tmp.path() + "/s")),
      db(open_seeded(config, tmp.path())), sys(deterministic(cfg)),
      sched(dynamic_cast<caf::scheduler::test_coordinator&>(sys.scheduler())) {
  store_handle = sys.spawn(scheduled_store, db);
  manager = sys.spawn(recording_manager, mlog);
}

det_world::~det_world() {
  sched.run();
  for (auto& a : spawned_)
    caf::anon_send_exit(a, caf::exit_reason::user_shutdown);
  caf::anon_send_exit(store_handle, caf::exit_reason::user_shutdown);
  caf::anon_send_exit(manager, caf::exit_reason::user_shutdown);
  sched.run();
  driver->shutdown();
}

vm_actor det_world::spawn(const vm_record& rec) {
  if (auto ok = db->insert_vm(rec); !ok)
    throw std::runtime_error("cannot insert VM row: "
                             + error_message(ok.error()));
  fs::create_directories(rec.info.dir);
  auto vm = spawn_vm(sys,
                     vm_deps{std::make_shared<const daemon_config>(config),
                             driver, store_handle, manager, {}},
                     rec);
  spawned_.push_back(caf::actor_cast<caf::actor>(vm));
  return vm;
}

vm_record det_world::row(const std::string& id) {
  auto xs = db->list_vms();
  if (!xs)
    throw std::runtime_error("cannot list VMs: " + error_message(xs.error()));
  for (auto& r : *xs)
    if (r.info.id == id)
      return r;
  throw std::runtime_error("no row with id " + id);
}

} // namespace banger::test
