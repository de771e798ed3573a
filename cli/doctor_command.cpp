// banger doctor [--json]
#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <memory>

#include <sys/stat.h>
#include <unistd.h>

#include "cli/commands.hpp"
#include "cli/render.hpp"
#include "messages/daemon.hpp"
#include "messages/image.hpp"
#include "services/doctor.hpp"
#include "services/paths.hpp"
#include "services/settings.hpp"

namespace banger::cli {

namespace {

constexpr std::chrono::milliseconds daemon_timeout{2000};

// What bangerd says about itself and its kernels and images; nothing answers
// is a fact too, never an error.
daemon_facts ask_daemon(const std::string& socket) {
  daemon_facts d;
  auto client = daemon_client::try_connect(socket, &d.why);
  if (!client)
    return d;
  try {
    auto st = decode_result<daemon_status>(
        client->call("daemon.status", wire::json::object(), daemon_timeout));
    d.running = true;
    d.version = st.version;
    d.pid = st.pid;
    d.network = st.network;
  } catch (const std::exception& e) {
    d.why = e.what();
    return d;
  }
  try {
    for (auto& k :
         decode_result<kernel_list>(
             client->call("kernel.list", wire::json::object(), daemon_timeout))
             .kernels)
      d.kernels.push_back(k.name);
    for (auto& i :
         decode_result<image_list>(
             client->call("image.list", wire::json::object(), daemon_timeout))
             .images)
      d.images.push_back(i.name);
  } catch (const std::exception& e) {
    d.list_error = e.what();
  }
  return d;
}

std::string_view status_style(check_status s) {
  switch (s) {
  case check_status::pass:
    return sgr::green;
  case check_status::warn:
    return sgr::yellow;
  case check_status::fail:
    return sgr::red;
  }
  return sgr::none;
}

std::string render_text(const std::vector<check_result>& results, bool colour) {
  std::size_t width = 0;
  for (auto& r : results)
    width = std::max(width, display_width(r.check));
  std::string out;
  for (auto& r : results) {
    out += paint(to_string(r.status), status_style(r.status), colour);
    out += "  " + r.check;
    out.append(width - display_width(r.check), ' ');
    out += "  " + r.detail + "\n";
  }
  return out;
}

std::string render_json(const std::vector<check_result>& results) {
  auto checks = wire::json::array();
  for (auto& r : results) {
    std::string status = to_string(r.status);
    std::transform(status.begin(), status.end(), status.begin(),
                   [](unsigned char c) { return std::tolower(c); });
    checks.push_back(
        {{"check", r.check}, {"status", status}, {"detail", r.detail}});
  }
  wire::json doc = {{"ok", doctor_exit_code(results) == 0}, {"checks", checks}};
  return doc.dump(2) + "\n";
}

int do_doctor(bool json) {
  doctor_env env;
  env.dirs = resolve_paths();
  // The helper's directory is named after the daemon's owner; root running
  // doctor for a user's daemon finds it by who owns the runtime dir.
  auto owner_paths = env.dirs;
  struct stat st {};
  if (::geteuid() == 0 && ::stat(owner_paths.runtime_dir.c_str(), &st) == 0)
    owner_paths.uid = st.st_uid;
  env.helper_socket = owner_paths.helper_socket();
  settings conf;
  if (load_settings(env.dirs.config_file(), conf))
    env.bridge = conf.network.bridge;
  const char* path = std::getenv("PATH");
  // nft lives in sbin, which a user's PATH often lacks.
  env.search_path = std::string(path != nullptr ? path : "/usr/bin:/bin")
                    + ":/usr/local/sbin:/usr/sbin:/sbin";
  auto results = run_checks(env, ask_daemon(env.dirs.socket()));
  print(json ? render_json(results)
             : render_text(results, colour_enabled(STDOUT_FILENO)));
  return doctor_exit_code(results);
}

} // namespace

void add_doctor_command(CLI::App& app, action& selected) {
  auto json = std::make_shared<bool>(false);
  auto* cmd = app.add_subcommand(
      "doctor", "Check what banger needs from this host (exit 1 on any FAIL)");
  cmd->add_flag("--json", *json, "Print the checks as JSON");
  cmd->footer("One line per check: PASS, WARN (works, but see the detail) or "
              "FAIL (fix it).");
  cmd->callback(
      [json, &selected] { selected = {[json] { return do_doctor(*json); }}; });
}

} // namespace banger::cli
