// banger image pull REF, kernel pull NAME (a progress bar on a
// terminal, plain lines otherwise, JSON lines with --json; Ctrl-C cancels)
// and banger image build NAME --from-image BASE -- CMD (streams like vm run).
#include <csignal>
#include <memory>

#include <unistd.h>

#include "cli/commands.hpp"
#include "cli/common.hpp"
#include "cli/exec_stream.hpp"
#include "cli/progress.hpp"
#include "cli/render.hpp"
#include "cli/signals.hpp"
#include "messages/image.hpp"
#include "messages/vm.hpp"

namespace banger::cli {

namespace {

struct pull_opts {
  std::string ref;
  std::string name;
  std::string kernel;
  std::string size;
  bool json = false;
};

/// Streams one pull request. --json prints every event as a JSON line
/// ({"event":"progress",...}) and the result last ({"event":"result",...}).
reply stream_pull(const std::string& type, const wire::json& body, bool json,
                  bool& cancelled) {
  auto client = connect_daemon();
  progress_display progress(STDERR_FILENO,
                            progress_display::when_not_tty::lines);
  if (json)
    progress.stop();
  signal_pipe signals({SIGINT, SIGTERM, SIGHUP});
  cancelled = false;
  stream_hooks hooks;
  hooks.on_progress = [&](const progress_event& ev) {
    if (json) {
      auto line = to_json(ev);
      line["event"] = "progress";
      print(line.dump() + "\n");
    } else {
      progress.update(ev);
    }
  };
  hooks.tick = std::chrono::milliseconds(progress.active() ? 100 : 0);
  hooks.on_tick = [&] { progress.tick(); };
  hooks.wakeup_fd = signals.fd();
  hooks.on_wakeup = [&](daemon_client& c, std::uint64_t id) {
    if (signals.drain().empty() || cancelled)
      return;
    cancelled = true;
    progress.stop();
    wire::write_all(STDERR_FILENO, "banger: cancelling the pull\n");
    c.send(id, "cancel", wire::json::object());
  };
  auto r = client.stream(type, body, hooks);
  progress.stop();
  if (json && r.ok())
    print(wire::json{{"event", "result"}, {"result", r.body}}.dump() + "\n");
  return r;
}

/// Ctrl-C during a pull: the daemon dropped our wait (and the pull, if
/// nobody else waits for it); exit like an interrupted command.
int exit_cancelled() {
  wire::write_all(STDERR_FILENO, "banger: pull cancelled\n");
  return 128 + SIGINT;
}

int do_image_pull(const pull_opts& o) {
  image_pull_request req{o.ref, o.name, o.kernel, 0};
  if (!o.size.empty())
    req.size_bytes = parse_size(o.size).value_or(0);
  bool cancelled = false;
  auto r = stream_pull("image.pull", to_json(req), o.json, cancelled);
  if (cancelled && !r.ok())
    return exit_cancelled();
  auto img = decode_result<image_info>(r);
  if (!o.json)
    print("image " + img.name + " pulled from " + img.source + " ("
          + format_bytes(img.size_bytes) + ", " + img.digest + ")\n");
  return exit_ok;
}

struct build_opts {
  std::string name;
  std::string from;
  std::string kernel;
  std::string size;
  bool nat = false;
  std::vector<std::string> command;
};

int do_image_build(const build_opts& o) {
  image_build_request req;
  req.name = o.name;
  req.from = o.from;
  req.kernel = o.kernel;
  req.nat = o.nat;
  req.exec.argv = o.command;
  if (!o.size.empty())
    req.size_bytes = parse_size(o.size).value_or(0);
  auto client = connect_daemon();
  return stream_command(client, "image.build", to_json(req), false,
                        [&](const reply& r) {
                          auto img = decode_result<image_info>(r);
                          print("image " + img.name + " built from " + o.from
                                + " (" + format_bytes(img.size_bytes) + ")\n");
                          return exit_ok;
                        });
}

int do_kernel_pull(const pull_opts& o) {
  bool cancelled = false;
  auto r = stream_pull("kernel.pull", to_json(kernel_pull_request{o.ref}),
                       o.json, cancelled);
  if (cancelled && !r.ok())
    return exit_cancelled();
  auto k = decode_result<kernel_info>(r);
  if (!o.json)
    print("kernel " + k.name + " pulled"
          + (k.version.empty() ? "" : " (" + k.version + ")") + "\n");
  return exit_ok;
}

} // namespace

void add_pull_commands(CLI::App& image, CLI::App& kernel, action& selected) {
  auto o = std::make_shared<pull_opts>();
  auto* pull = image.add_subcommand(
    "pull", "Download an image from an OCI registry or a catalog");
  pull->add_option("ref", o->ref,
                   "A catalog image name, or an OCI reference: "
                   "[registry/]repo[:tag][@sha256:...] (Docker Hub short "
                   "names like debian:bookworm work as with docker pull)")
    ->required()
    ->check(not_empty);
  pull->add_option("--name", o->name,
                   "Name of the new image; default: from the reference "
                   "(debian:bookworm -> debian-bookworm)");
  pull->add_option("--kernel", o->kernel,
                   "Kernel that VMs of this image boot by default; default: "
                   "the catalog's choice, else the default kernel");
  pull->add_option("--size", o->size,
                   "Size of the root filesystem (e.g. 4G); default: the "
                   "content plus headroom")
    ->check(a_size);
  pull->add_flag("--json", o->json,
                 "Print progress events and the result as JSON lines");
  pull->footer(
    "Layers are checked against their digests and flattened into an ext4 "
    "root;\nimages without an init or an sshd boot anyway (banger-init "
    "provides them).\nPulling the same reference twice is a no-op; two "
    "pulls of one name share one download.\n\nExamples:\n"
    "  banger image pull debian:bookworm\n"
    "  banger image pull localhost:5000/tools/dev:1.2 --name dev --size 4G\n"
    "  banger image pull debian-bookworm        # from the catalog");
  pull->callback([o, &selected] {
    selected = {[o] { return do_image_pull(*o); }};
  });

  auto b = std::make_shared<build_opts>();
  auto* build = image.add_subcommand(
    "build", "Make an image by running a command in a VM of another image");
  build->add_option("name", b->name, "Name of the new image")
    ->required()
    ->check(not_empty);
  build->add_option("--from-image", b->from, "The image to start from")
    ->required()
    ->check(not_empty);
  build->add_option("--kernel", b->kernel,
                    "Kernel of the new image; default: the base image's");
  build->add_option("--size", b->size,
                    "Grow the root filesystem to this size (e.g. 4G); "
                    "default: the base image's size")
    ->check(a_size);
  build->add_flag("--nat", b->nat,
                  "Let the provisioning command reach the internet");
  build->add_option("CMD", b->command,
                    "The provisioning command, after '--'; runs as root in "
                    "the VM, without a shell (use sh -c '...' for one)")
    ->required();
  build->footer(
    "The base boots as a temporary VM, the command's output streams here, "
    "and\nif it exits 0 the VM's disk becomes the new image. Otherwise "
    "nothing is\npublished. The temporary VM is deleted either way.\n\n"
    "Example:\n  banger image build dev --from-image debian-bookworm --nat "
    "--size 4G -- \\\n    sh -c 'apt-get update && apt-get install -y "
    "build-essential'");
  build->callback([b, &selected] {
    selected = {[b] { return do_image_build(*b); }};
  });

  auto k = std::make_shared<pull_opts>();
  auto* kpull =
    kernel.add_subcommand("pull", "Download a kernel named in a catalog");
  kpull->add_option("name", k->ref, "The catalog's name for the kernel")
    ->required()
    ->check(not_empty);
  kpull->add_flag("--json", k->json,
                  "Print progress events and the result as JSON lines");
  kpull->callback([k, &selected] {
    selected = {[k] { return do_kernel_pull(*k); }};
  });
}

} // namespace banger::cli
