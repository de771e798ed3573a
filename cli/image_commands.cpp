// banger image list|show|import|rm, banger kernel list|show|import|rm
#include <filesystem>
#include <memory>

#include "cli/commands.hpp"
#include "cli/render.hpp"
#include "messages/image.hpp"
#include "messages/vm.hpp"

namespace banger::cli {

namespace {

struct import_opts {
  std::string name;
  std::string path;   // --rootfs FILE or --from DIR
  std::string kernel; // images only
  std::string work_seed; // images only
};

// The daemon runs elsewhere (another cwd): send absolute paths.
std::string absolute(const std::string& path) {
  std::error_code ec;
  auto abs = std::filesystem::absolute(path, ec);
  if (ec)
    fail("cannot resolve " + path + ": " + ec.message());
  return abs.lexically_normal().string();
}

int do_image_list(bool json) {
  auto client = connect_daemon();
  auto r = client.call("image.list", wire::json::object());
  if (json) {
    print_json(r);
    return exit_ok;
  }
  auto list = decode_result<image_list>(r);
  table t({"NAME", "KERNEL", "SIZE", "SOURCE", "CREATED"});
  auto now = now_unix();
  for (auto& img : list.images)
    t.add_row({{img.name},
               {img.kernel.empty() ? "-" : img.kernel},
               {format_bytes(img.size_bytes)},
               {img.source.empty() ? "imported" : img.source},
               {format_created(img.created_at, now)}});
  print(t.render(colour_enabled(STDOUT_FILENO)));
  return exit_ok;
}

int do_image_import(const import_opts& o) {
  image_import_request req{o.name, absolute(o.path), o.kernel,
                           o.work_seed.empty() ? "" : absolute(o.work_seed)};
  auto client = connect_daemon();
  auto img = decode_result<image_info>(
      call_with_progress(client, "image.import", to_json(req)));
  print("image " + img.name + " imported (" + format_bytes(img.size_bytes)
        + ")\n");
  return exit_ok;
}

int do_kernel_list(bool json) {
  auto client = connect_daemon();
  auto r = client.call("kernel.list", wire::json::object());
  if (json) {
    print_json(r);
    return exit_ok;
  }
  auto list = decode_result<kernel_list>(r);
  table t({"NAME", "VERSION", "CREATED"});
  auto now = now_unix();
  for (auto& k : list.kernels)
    t.add_row({{k.name},
               {k.version.empty() ? "-" : k.version},
               {format_created(k.created_at, now)}});
  print(t.render(colour_enabled(STDOUT_FILENO)));
  return exit_ok;
}

int do_kernel_import(const import_opts& o) {
  kernel_import_request req{o.name, absolute(o.path)};
  auto client = connect_daemon();
  auto k = decode_result<kernel_info>(
      call_with_progress(client, "kernel.import", to_json(req)));
  print("kernel " + k.name + " imported"
        + (k.version.empty() ? "" : " (" + k.version + ")") + "\n");
  return exit_ok;
}

/// `image show` / `kernel show`: key/value lines or the daemon's JSON.
int do_show(const char* type, const std::string& name, bool json) {
  auto client = connect_daemon();
  auto r = client.call(type, to_json(vm_ref{name}));
  if (json) {
    print_json(r);
    return exit_ok;
  }
  auto now = now_unix();
  if (std::string_view{type} == "image.show") {
    auto x = decode_result<image_info>(r);
    print(key_values({{"name", x.name},
                      {"kernel", x.kernel},
                      {"rootfs", x.rootfs},
                      {"work seed", x.work_seed.empty() ? "none (VMs copy /root on first boot)"
                                                        : x.work_seed},
                      {"size", format_bytes(x.size_bytes)},
                      {"source", x.source.empty() ? "imported" : x.source},
                      {"digest", x.digest.empty() ? "-" : x.digest},
                      {"created", with_age(x.created_at, now)}}));
  } else {
    auto x = decode_result<kernel_info>(r);
    print(key_values({{"name", x.name},
                      {"version", x.version},
                      {"vmlinux", x.vmlinux},
                      {"initrd", x.initrd.empty() ? "-" : x.initrd},
                      {"source", x.source.empty() ? "imported" : x.source},
                      {"created", with_age(x.created_at, now)}}));
  }
  return exit_ok;
}

int do_rm(const char* type, const char* what, const std::string& name,
          bool force) {
  auto client = connect_daemon();
  std::vector<std::string> broken;
  if (force) {
    // Say what -f takes with it: the VMs booted from this image/kernel.
    auto list = decode_result<vm_list>(client.call("vm.list", wire::json::object()));
    bool image = std::string_view{what} == "image";
    for (auto& vm : list.vms)
      if ((image ? vm.image : vm.kernel) == name)
        broken.push_back(vm.name + " (" + vm.state + ")");
  }
  result_of(client.call(type, to_json(vm_delete_request{name, force})));
  for (auto& vm : broken)
    print("deleted VM " + vm + ", which used " + what + " " + name + "\n");
  print(std::string{what} + " " + name + " deleted\n");
  return exit_ok;
}

/// show and rm for one kind ("image" or "kernel").
void add_show_rm(CLI::App& group, action& selected, const char* what) {
  struct opts {
    std::string name;
    bool json = false;
    bool force = false;
  };
  auto o = std::make_shared<opts>();
  auto kind = std::string{what};
  auto* show = group.add_subcommand("show", "Show one " + kind + " in detail");
  show->add_option("name", o->name, "The " + kind)->required();
  show->add_flag("--json", o->json, "Print the daemon's reply as JSON");
  show->callback([o, kind, &selected] {
    selected = {[o, kind] { return do_show(kind == "image" ? "image.show" : "kernel.show", o->name, o->json); }};
  });
  auto r = std::make_shared<opts>();
  auto* rm = group.add_subcommand(
      "rm", "Delete " + kind + " (refused while " +
              (kind == "image" ? "VMs use it" : "images or VMs use it") + ")");
  rm->alias("delete");
  rm->add_option("name", r->name, "The " + kind)->required();
  rm->add_flag("-f,--force", r->force,
               "Also delete the VMs that use it (stopping them first) and "
               "list them; " + std::string(kind == "image" ? "" : "images using it still refuse; ")
                 + "their disks are lost");
  rm->callback([r, kind, what, &selected] {
    selected = {[r, kind, what] {
      return do_rm(kind == "image" ? "image.rm" : "kernel.rm", what, r->name,
                   r->force);
    }};
  });
}

void add_list(CLI::App& group, action& selected, const char* what,
              int (*list)(bool)) {
  auto json = std::make_shared<bool>(false);
  auto* cmd = group.add_subcommand("list", std::string("List ") + what);
  cmd->alias("ls");
  cmd->add_flag("--json", *json, "Print the daemon's reply as JSON");
  cmd->callback([json, list, &selected] {
    selected = {[json, list] { return list(*json); }};
  });
}

} // namespace

void add_image_commands(CLI::App& app, action& selected) {
  auto* image = app.add_subcommand("image", "Manage root filesystem images");
  image->require_subcommand(1);
  add_list(*image, selected, "images", do_image_list);
  add_show_rm(*image, selected, "image");

  auto o = std::make_shared<import_opts>();
  auto* imp = image->add_subcommand(
      "import", "Copy a raw ext4 root filesystem into banger as an image");
  imp->add_option("name", o->name, "Name of the new image")
      ->required()
      ->check(not_empty);
  imp->add_option("--rootfs", o->path, "The raw ext4 file to copy in")
      ->required()
      ->check(CLI::ExistingFile);
  imp->add_option("--kernel", o->kernel,
                  "Kernel that VMs of this image boot by default; default: the "
                  "default kernel");
  imp->add_option("--work-seed", o->work_seed,
                  "An ext4 file holding the image's /root, cloned into each "
                  "VM's work disk; default: VMs copy /root from the rootfs on "
                  "first boot")
      ->check(CLI::ExistingFile);
  imp->footer("Example:\n  banger image import debian --rootfs ./debian.ext4 "
              "--work-seed ./debian-root.ext4 --kernel 6.1");
  imp->callback(
      [o, &selected] { selected = {[o] { return do_image_import(*o); }}; });

  auto* kernel = app.add_subcommand("kernel", "Manage guest kernels");
  kernel->require_subcommand(1);
  add_list(*kernel, selected, "kernels", do_kernel_list);
  add_show_rm(*kernel, selected, "kernel");

  auto k = std::make_shared<import_opts>();
  auto* kimp =
      kernel->add_subcommand("import", "Copy a guest kernel into banger");
  kimp->add_option("name", k->name, "Name of the new kernel")
      ->required()
      ->check(not_empty);
  kimp->add_option("--from", k->path,
                   "Directory with the kernel: a manifest.json/metadata.json "
                   "naming the files, or vmlinux / vmlinuz / boot/vmlinuz-*, "
                   "plus optional initrd.img (boot/initrd.img-*, "
                   "initramfs-*), modules/ or lib/modules/<release>, version")
      ->required()
      ->check(CLI::ExistingDirectory);
  kimp->footer("Example:\n  banger kernel import 6.1 --from ./kernel-out");
  kimp->callback(
      [k, &selected] { selected = {[k] { return do_kernel_import(*k); }}; });
  add_pull_commands(*image, *kernel, selected);
}

} // namespace banger::cli
