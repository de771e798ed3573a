#include "actors/pull_plans.hpp"

#include "services/catalog_pull.hpp"
#include "services/error.hpp"
#include "services/names.hpp"
#include "services/oci_ref.hpp"

namespace banger {

bool may_be_catalog_name(const std::string& ref) {
  return validate_object_name("image", ref).empty();
}

namespace {

/// "no kernel named X in the catalogs (...)": names what was searched.
caf::error not_in_catalogs(const std::string& kind, const std::string& name,
                           const std::vector<catalog_entry>& catalog) {
  std::string known;
  for (auto& e : catalog)
    if (e.kind == kind)
      known += (known.empty() ? "" : ", ") + e.name + " (" + e.arch + ")";
  return make_error(ec::not_found,
                    kind + " pull " + name + ": no catalog names a " + kind
                      + " \"" + name + "\" for " + host_arch()
                      + (known.empty() ? "; the catalogs list no " + kind
                                           + "s (add one under [catalog] "
                                             "sources in config.toml)"
                                       : "; they list: " + known));
}

caf::expected<pull_plan<image_info>>
plan_catalog_image(const daemon_config& config, const image_pull_request& req,
                   const catalog_entry& entry) {
  pull_plan<image_info> plan;
  plan.what = "image";
  plan.key = req.name.empty() ? entry.name : req.name;
  if (auto why = validate_object_name("image", plan.key); !why.empty())
    return make_error(ec::invalid_argument, why);
  plan.source = "catalog:" + entry.name;
  plan.needs_kernel = !req.kernel.empty()  ? req.kernel
                      : !entry.kernel.empty() ? entry.kernel
                                              : "default";
  plan.file = &image_info::rootfs;
  catalog_pull_job job{entry, plan.key, plan.needs_kernel,
                       config.paths.images_dir(), {}, nullptr};
  plan.work = [job](progress_fn progress, std::atomic<bool>* cancel) mutable {
    job.on_progress = std::move(progress);
    job.cancel = cancel;
    return pull_catalog_image(job);
  };
  return plan;
}

} // namespace

caf::expected<pull_plan<image_info>>
plan_image_pull(const daemon_config& config, const image_pull_request& req,
                const std::vector<catalog_entry>& catalog) {
  if (may_be_catalog_name(req.ref))
    if (auto e = find_entry(catalog, "image", req.ref, host_arch()))
      return plan_catalog_image(config, req, *e);
  auto ref = parse_oci_ref(req.ref);
  if (!ref)
    return make_error(ec::invalid_argument,
                      "image pull " + req.ref + ": "
                        + error_message(ref.error()));
  pull_plan<image_info> plan;
  plan.what = "image";
  plan.key = req.name.empty() ? image_name_for(*ref) : req.name;
  if (auto why = validate_object_name("image", plan.key); !why.empty())
    return make_error(ec::invalid_argument,
                      why + (req.name.empty() ? " (derived from " + req.ref
                                                  + "; give one with --name)"
                                              : ""));
  plan.source = ref->str();
  plan.needs_kernel = req.kernel.empty() ? "default" : req.kernel;
  plan.file = &image_info::rootfs;
  oci_pull_job job;
  job.ref = *ref;
  job.name = plan.key;
  job.kernel = plan.needs_kernel;
  job.size_bytes = req.size_bytes;
  job.images_dir = config.paths.images_dir();
  plan.work = [job](progress_fn progress,
                    std::atomic<bool>* cancel) mutable {
    job.on_progress = std::move(progress);
    job.cancel = cancel;
    return pull_oci_image(job);
  };
  return plan;
}

caf::expected<pull_plan<kernel_info>>
plan_kernel_pull(const daemon_config& config, const kernel_pull_request& req,
                 const std::vector<catalog_entry>& catalog) {
  if (auto why = validate_object_name("kernel", req.name); !why.empty())
    return make_error(ec::invalid_argument, why);
  auto entry = find_entry(catalog, "kernel", req.name, host_arch());
  if (!entry)
    return not_in_catalogs("kernel", req.name, catalog);
  pull_plan<kernel_info> plan;
  plan.what = "kernel";
  plan.key = req.name;
  plan.source = "catalog:" + entry->name;
  plan.file = &kernel_info::vmlinux;
  catalog_pull_job job{*entry, plan.key, "", config.paths.kernels_dir(), {},
                       nullptr};
  plan.work = [job](progress_fn progress, std::atomic<bool>* cancel) mutable {
    job.on_progress = std::move(progress);
    job.cancel = cancel;
    return pull_catalog_kernel(job);
  };
  return plan;
}

} // namespace banger
