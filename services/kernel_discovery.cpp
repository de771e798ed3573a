#include "services/kernel_discovery.hpp"

#include <string.h>

#include <algorithm>
#include <cctype>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <vector>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "services/error.hpp"
#include "services/file_magic.hpp"

namespace banger {

namespace fs = std::filesystem;
using json = nlohmann::json;

namespace {

bool is_file(const fs::path& p) {
  std::error_code ec;
  return fs::is_regular_file(p, ec);
}

bool is_dir(const fs::path& p) {
  std::error_code ec;
  return fs::is_directory(p, ec);
}

// Entries of `dir` named <prefix><suffix>, newest suffix (version order)
// first: {suffix, path}.
std::vector<std::pair<std::string, fs::path>>
newest_first(const fs::path& dir, const std::string& prefix, bool dirs) {
  std::vector<std::pair<std::string, fs::path>> out;
  std::error_code ec;
  for (auto& e : fs::directory_iterator(dir, ec)) {
    auto name = e.path().filename().string();
    if (name.size() <= prefix.size() || name.rfind(prefix, 0) != 0)
      continue;
    if (dirs ? !is_dir(e.path()) : !is_file(e.path()))
      continue;
    out.emplace_back(name.substr(prefix.size()), e.path());
  }
  std::sort(out.begin(), out.end(), [](const auto& a, const auto& b) {
    return ::strverscmp(a.first.c_str(), b.first.c_str()) > 0;
  });
  return out;
}

bool bootable(const fs::path& p, bool want_elf) {
  if (is_elf(p))
    return true;
  return !want_elf && (is_bzimage(p) || is_arm64_image(p));
}

struct metadata {
  std::string file;
  std::string kernel, initrd, modules, version;
};

caf::expected<metadata> read_metadata(const fs::path& dir) {
  metadata m;
  for (auto name : {"metadata.json", "manifest.json"}) {
    if (is_file(dir / name)) {
      m.file = (dir / name).string();
      break;
    }
  }
  if (m.file.empty())
    return m;
  json j;
  try {
    std::ifstream in(m.file, std::ios::binary);
    j = json::parse(in);
  } catch (const std::exception& e) {
    return make_error(ec::invalid_argument,
                      fmt::format("{} is not valid JSON ({}); fix or remove it",
                                  m.file, e.what()));
  }
  if (!j.is_object())
    return make_error(ec::invalid_argument,
                      m.file + " is not a JSON object; fix or remove it");
  auto pick = [&](std::initializer_list<const char*> keys,
                  std::string& out) -> caf::expected<void> {
    for (auto key : keys) {
      if (!j.contains(key) || j[key].is_null())
        continue;
      if (!j[key].is_string())
        return make_error(
            ec::invalid_argument,
            fmt::format("{}: \"{}\" must be a string", m.file, key));
      out = j[key].get<std::string>();
      if (!out.empty())
        return {};
    }
    return {};
  };
  for (auto ok :
       {pick({"vmlinux", "vmlinuz", "kernel", "kernel_path"}, m.kernel),
        pick({"initrd", "initramfs", "initrd_path"}, m.initrd),
        pick({"modules", "modules_dir"}, m.modules),
        pick({"version", "kernel_version"}, m.version)})
    if (!ok)
      return ok.error();
  return m;
}

} // namespace

caf::expected<kernel_files> discover_kernel_files(const std::string& dir_text) {
  fs::path dir{dir_text};
  if (!is_dir(dir))
    return make_error(ec::invalid_argument,
                      "kernel directory " + dir_text
                          + " is not a directory; pass --from DIR holding "
                            "vmlinux (and initrd.img)");
  auto meta = read_metadata(dir);
  if (!meta)
    return meta.error();
  kernel_files out;
  std::string kernel_suffix; // the version in boot/vmlinu?-<version>
  // Named in the metadata: must exist.
  auto named = [&](const std::string& rel, const char* what,
                   bool want_dir) -> caf::expected<std::string> {
    auto p = fs::path{rel}.is_absolute() ? fs::path{rel} : dir / rel;
    if (want_dir ? !is_dir(p) : !is_file(p))
      return make_error(ec::not_found,
                        fmt::format("{} names the {} {}, which is not a {}; "
                                    "fix the file",
                                    meta->file, what, p.string(),
                                    want_dir ? "directory" : "file"));
    return p.string();
  };
  if (!meta->kernel.empty()) {
    auto p = named(meta->kernel, "kernel", false);
    if (!p)
      return p.error();
    if (!bootable(*p, false))
      return make_error(ec::invalid_argument,
                        fmt::format("{} names the kernel {}, which is neither "
                                    "an ELF vmlinux nor a bzImage",
                                    meta->file, *p));
    out.kernel = *p;
  } else {
    // ELF kernels first (both boot paths), then compressed ones.
    for (bool want_elf : {true, false}) {
      for (auto plain : {"vmlinux", "vmlinuz"}) {
        if (!out.kernel.empty())
          break;
        if (bootable(dir / plain, want_elf)) {
          out.kernel = (dir / plain).string();
          break;
        }
        for (auto& [suffix, p] :
             newest_first(dir / "boot", std::string{plain} + "-", false))
          if (bootable(p, want_elf)) {
            out.kernel = p.string();
            kernel_suffix = suffix;
            break;
          }
      }
    }
  }
  if (out.kernel.empty())
    return make_error(
        ec::not_found,
        fmt::format(
            "kernel directory {} has no kernel: looked for vmlinux, "
            "boot/vmlinux-*, vmlinuz and boot/vmlinuz-* (an ELF, bzImage "
            "or arm64 Image){}; pass the directory scripts/build-kernel.sh "
            "wrote, or a tree with boot/vmlinuz-<version>",
            dir_text,
            meta->file.empty() ? " and metadata.json/manifest.json naming one"
                               : ", as " + meta->file + " names none"));
  out.kernel_is_elf = is_elf(out.kernel);

  if (!meta->initrd.empty()) {
    auto p = named(meta->initrd, "initrd", false);
    if (!p)
      return p.error();
    out.initrd = *p;
  } else {
    std::vector<fs::path> tries{dir / "initrd.img", dir / "initrd",
                                dir / "initramfs.img"};
    if (!kernel_suffix.empty())
      for (auto name : {"initrd.img-", "initramfs-"})
        for (auto ext : {"", ".img"})
          tries.push_back(dir / "boot" / (name + kernel_suffix + ext));
    for (auto& t : tries)
      if (out.initrd.empty() && is_file(t))
        out.initrd = t.string();
    for (auto prefix : {"initrd.img-", "initramfs-"})
      for (auto& [suffix, p] : newest_first(dir / "boot", prefix, false))
        if (out.initrd.empty())
          out.initrd = p.string();
  }

  std::string modules_suffix;
  if (!meta->modules.empty()) {
    auto p = named(meta->modules, "modules directory", true);
    if (!p)
      return p.error();
    out.modules = *p;
  } else if (is_dir(dir / "modules")) {
    out.modules = (dir / "modules").string();
  } else if (!kernel_suffix.empty()
             && is_dir(dir / "lib" / "modules" / kernel_suffix)) {
    modules_suffix = kernel_suffix;
    out.modules = (dir / "lib" / "modules" / kernel_suffix).string();
  } else if (auto all = newest_first(dir / "lib" / "modules", "", true);
             !all.empty()) {
    modules_suffix = all.front().first;
    out.modules = all.front().second.string();
  }

  out.version = meta->version;
  if (std::ifstream in(dir / "version"); out.version.empty() && in)
    std::getline(in, out.version);
  // lib/modules/<release> is the release; a boot/vmlinuz-<suffix> may be a
  // flavour ("virt") rather than one.
  if (out.version.empty())
    out.version = modules_suffix;
  if (out.version.empty() && !kernel_suffix.empty()
      && std::isdigit(static_cast<unsigned char>(kernel_suffix.front())))
    out.version = kernel_suffix;
  return out;
}

} // namespace banger
