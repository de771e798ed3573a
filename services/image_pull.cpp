#include "services/image_pull.hpp"

#include <chrono>
#include <memory>
#include <fstream>

#include <fmt/format.h>

#include "messages/wire.hpp"
#include "services/error.hpp"
#include "services/names.hpp"
#include "services/registry_client.hpp"
#include "services/rootfs_builder.hpp"
#include "services/staging.hpp"

namespace banger {

namespace {

using clock = std::chrono::steady_clock;

/// Folds `text` into name characters: lowercase, anything else becomes one
/// '-', no '-' at either end.
std::string fold(std::string_view text) {
  std::string out;
  for (char c : text) {
    if (c >= 'A' && c <= 'Z')
      c = static_cast<char>(c - 'A' + 'a');
    bool ok = (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9');
    if (ok)
      out += c;
    else if (!out.empty() && out.back() != '-')
      out += '-';
  }
  while (!out.empty() && out.back() == '-')
    out.pop_back();
  return out;
}

/// Rate-limits progress: a stage's events at most every 100 ms, except the
/// first and the one that completes it.
class throttled {
public:
  explicit throttled(progress_fn fn) : fn_(std::move(fn)) {}

  void operator()(const progress_event& ev) {
    if (!fn_)
      return;
    auto now = clock::now();
    bool edge = ev.stage != stage_ || (ev.total != 0 && ev.done == ev.total);
    if (!edge && now - last_ < std::chrono::milliseconds(100))
      return;
    stage_ = ev.stage;
    last_ = now;
    fn_(ev);
  }

private:
  progress_fn fn_;
  std::string stage_;
  clock::time_point last_{};
};

std::string short_digest(const std::string& digest) {
  auto colon = digest.find(':');
  auto hex = colon == std::string::npos ? digest : digest.substr(colon + 1);
  return hex.substr(0, 12);
}

caf::expected<void> write_manifest(const std::string& path,
                                   const oci_pull_job& job,
                                   const pulled_image& img) {
  wire::json layers = wire::json::array();
  for (auto& l : img.layers)
    layers.push_back({{"digest", l.digest},
                      {"media_type", l.media_type},
                      {"size", l.size}});
  wire::json m = {{"kind", "image"},
                  {"name", job.name},
                  {"source", job.ref.str()},
                  {"digest", img.manifest_digest},
                  {"os", img.os},
                  {"arch", img.architecture},
                  {"kernel", job.kernel},
                  {"layers", layers}};
  std::ofstream out(path, std::ios::trunc);
  out << m.dump(2) << '\n';
  out.close();
  if (!out)
    return make_error(ec::internal, "cannot write " + path);
  return {};
}

caf::expected<image_info> pull_into(const oci_pull_job& job,
                                    const std::string& staging) {
  auto report = throttle_progress(job.on_progress);
  auto ref = job.ref.str();
  report({"resolve", "resolving " + ref, 0, 0});
  pull_options opts;
  opts.out_dir = staging + "/blobs";
  opts.insecure = job.insecure;
  opts.docker_config = job.docker_config;
  opts.cancel = job.cancel;
  opts.on_progress = [&](const pull_progress& p) {
    auto what = p.layer < 0 ? std::string("config")
                            : fmt::format("layer {}/{}", p.layer + 1,
                                          p.layer_count);
    report({"download", what + " " + short_digest(p.digest), p.overall_done,
            p.overall_total});
  };
  auto pulled = pull_image(job.ref, opts);
  if (!pulled)
    return pulled.error();

  report({"unpack",
          fmt::format("building the root filesystem from {} layer{}",
                      pulled->layers.size(),
                      pulled->layers.size() == 1 ? "" : "s"),
          0, 0});
  std::vector<layer_source> layers;
  for (auto& l : pulled->layers)
    layers.push_back({l.path, l.compression, l.digest});
  auto image_dir = staging + "/image";
  std::error_code ec;
  std::filesystem::create_directories(staging + "/build", ec);
  std::filesystem::create_directories(image_dir, ec);
  rootfs_options ro;
  ro.work_dir = staging + "/build";
  ro.output = image_dir + "/rootfs.ext4";
  ro.work_seed_output = image_dir + "/work-seed.ext4";
  ro.size_bytes = job.size_bytes;
  ro.cancel = job.cancel;
  auto built = build_rootfs(layers, ro);
  if (!built)
    return make_error(error_code(built.error()),
                      fmt::format("pulling {}: {}", ref,
                                  error_message(built.error())));
  // The blobs and the staging tree are not needed once the image exists;
  // free the space before the rename.
  discard_dir(staging + "/blobs");
  discard_dir(staging + "/build");
  if (auto w = write_manifest(image_dir + "/manifest.json", job, *pulled); !w)
    return w.error();

  auto final_dir = job.images_dir + "/" + job.name;
  if (auto p = publish_dir(image_dir, final_dir); !p)
    return make_error(error_code(p.error()),
                      fmt::format("pulling {}: {}", ref,
                                  error_message(p.error())));
  report({"done", fmt::format("{} files, {} MiB", built->files,
                              built->size_bytes >> 20),
          0, 0});
  image_info info;
  info.name = job.name;
  info.kernel = job.kernel;
  info.rootfs = final_dir + "/rootfs.ext4";
  info.work_seed = final_dir + "/work-seed.ext4";
  info.size_bytes = built->size_bytes;
  info.source = ref;
  info.digest = pulled->manifest_digest;
  return info;
}

} // namespace

progress_fn throttle_progress(progress_fn fn) {
  if (!fn)
    return [](const progress_event&) {};
  return [t = std::make_shared<throttled>(std::move(fn))](
           const progress_event& ev) { (*t)(ev); };
}

std::string image_name_for(const oci_ref& ref) {
  auto slash = ref.repository.rfind('/');
  auto base = fold(slash == std::string::npos
                     ? ref.repository
                     : ref.repository.substr(slash + 1));
  if (base.empty())
    base = "image";
  std::string suffix;
  if (!ref.tag.empty() && ref.tag != "latest")
    suffix = fold(ref.tag);
  else if (ref.tag.empty() && !ref.digest.empty())
    suffix = short_digest(ref.digest);
  auto name = suffix.empty() ? base : base + "-" + suffix;
  if (name.size() > max_name_length)
    name.resize(max_name_length);
  while (!name.empty() && name.back() == '-')
    name.pop_back();
  return name;
}

caf::expected<image_info> pull_oci_image(const oci_pull_job& job) {
  auto staging = make_staging_dir(job.images_dir, "pull");
  if (!staging)
    return make_error(error_code(staging.error()),
                      fmt::format("pulling {}: {}", job.ref.str(),
                                  error_message(staging.error())));
  auto r = pull_into(job, *staging);
  discard_dir(*staging);
  return r;
}

} // namespace banger
