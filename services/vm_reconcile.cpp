#include "services/vm_reconcile.hpp"

#include <cctype>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <set>

#include <fcntl.h>
#include <unistd.h>

#include <fmt/format.h>

#include "services/error.hpp"
#include "services/lifecycle.hpp"
#include "services/vm_identity.hpp"

namespace banger {

namespace fs = std::filesystem;
using namespace std::chrono_literals;

caf::expected<void> mark_creating(const std::string& dir) {
  auto path = dir + "/" + creating_marker;
  int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  if (fd < 0 || ::fsync(fd) != 0) {
    auto why = std::strerror(errno);
    if (fd >= 0)
      ::close(fd);
    return make_error(ec::unavailable,
                      fmt::format("cannot create {}: {}", path, why));
  }
  ::close(fd);
  return {};
}

caf::expected<void> clear_creating(const std::string& dir) {
  auto path = dir + "/" + creating_marker;
  if (::unlink(path.c_str()) != 0 && errno != ENOENT)
    return make_error(ec::unavailable, fmt::format("cannot remove {}: {}", path,
                                                   std::strerror(errno)));
  return {};
}

std::string deleting_path(const std::string& dir) {
  fs::path p{dir};
  return (p.parent_path() / ("." + p.filename().string() + ".deleting"))
      .string();
}

namespace {

bool is_id(const std::string& s) {
  if (s.empty() || s.size() > 64)
    return false;
  for (char c : s)
    if (!std::isalnum(static_cast<unsigned char>(c)) && c != '-' && c != '_')
      return false;
  return true;
}

vm_runtime runtime_of_record(const vm_record& rec) {
  return vm_runtime{rec.info.pid, rec.agent_socket, rec.qmp_socket,
                    rec.serial_log, rec.accel};
}

std::int64_t pid_file(const std::string& dir) {
  std::ifstream in{dir + "/qemu.pid"};
  std::int64_t pid = 0;
  in >> pid;
  return pid;
}

/// Kills the VMM of VM `id` if `pid` is it; true if one was killed.
bool kill_if_ours(vmm_driver& driver, std::int64_t pid, const std::string& id,
                  const vm_runtime& rt, std::vector<std::string>& notes) {
  if (pid <= 0 || !driver.alive(pid, id))
    return false;
  auto r = rt;
  r.pid = pid;
  if (auto k = driver.kill(r, id, 0ms); !k)
    notes.push_back(fmt::format("cannot kill VMM {} of VM {}: {}", pid, id,
                                error_message(k.error())));
  return true;
}

} // namespace

vm_reconcile_report reconcile_vms(const paths& p, store& db, vmm_driver& driver,
                                  std::vector<vm_record> records) {
  vm_reconcile_report out;
  std::set<std::string> dirs_in_use;
  for (auto& rec : records) {
    const auto& id = rec.info.id;
    const auto& dir = rec.info.dir;
    std::error_code ec;
    bool has_dir = !dir.empty() && fs::is_directory(dir, ec);
    bool creating = has_dir && fs::exists(dir + "/" + creating_marker, ec);
    if (has_dir && !creating) {
      // Launched, but the crash came before the pid was saved.
      auto launched = pid_file(dir);
      if (launched != rec.info.pid
          && kill_if_ours(driver, launched, id, runtime_of_record(rec),
                          out.notes))
        out.notes.push_back(
            fmt::format("VM {}: killed its VMM {}, which bangerd had "
                        "launched but not recorded",
                        rec.info.name, launched));
      dirs_in_use.insert(fs::path(dir).filename().string());
      out.kept.push_back(std::move(rec));
      continue;
    }
    // An unfinished create, or a delete that got as far as the directory.
    auto rt = runtime_of_record(rec);
    kill_if_ours(driver, rec.info.pid, id, rt, out.notes);
    if (has_dir)
      kill_if_ours(driver, pid_file(dir), id, rt, out.notes);
    if (has_dir) {
      fs::remove_all(dir, ec);
      if (ec) {
        out.notes.push_back(
            fmt::format("VM {}: cannot remove {}: {}; keeping its row",
                        rec.info.name, dir, ec.message()));
        dirs_in_use.insert(fs::path(dir).filename().string());
        out.kept.push_back(std::move(rec));
        continue;
      }
    }
    if (auto d = db.delete_vm(id); !d) {
      out.notes.push_back(fmt::format("VM {}: cannot delete its row: {}",
                                      rec.info.name, error_message(d.error())));
      continue;
    }
    if (!rec.info.ip.empty())
      if (auto f = forget_vm_identity(p, rec.info.name); !f)
        out.notes.push_back(error_message(f.error()));
    out.notes.push_back(
        creating
            ? fmt::format(
                "VM {}: undid its create, which bangerd had not finished",
                rec.info.name)
            : fmt::format(
                "VM {}: finished its delete, which bangerd had not finished",
                rec.info.name));
  }
  // Directories no row names.
  std::error_code ec;
  std::vector<fs::directory_entry> entries;
  for (auto& e : fs::directory_iterator(p.vms_dir(), ec))
    entries.push_back(e);
  for (auto& e : entries) {
    auto name = e.path().filename().string();
    std::string id = name;
    if (name.size() > 10 && name[0] == '.' && name.ends_with(".deleting"))
      id = name.substr(1, name.size() - 10);
    if (!is_id(id) || dirs_in_use.count(name) != 0 || !e.is_directory(ec))
      continue;
    auto dir = e.path().string();
    vm_runtime rt;
    rt.qmp_socket = dir + "/qmp.sock";
    rt.agent_socket = dir + "/agent.sock";
    kill_if_ours(driver, pid_file(dir), id, rt, out.notes);
    std::error_code rm;
    fs::remove_all(e.path(), rm);
    out.notes.push_back(
        rm ? fmt::format("cannot remove {}, which no VM owns: {}", dir,
                         rm.message())
           : fmt::format("removed {}, which no VM owns (left by a "
                         "create or delete bangerd did not finish)",
                         dir));
  }
  return out;
}

} // namespace banger
