#include "actors/pull_plans.hpp"

#include "services/error.hpp"
#include "services/names.hpp"
#include "services/oci_ref.hpp"

namespace banger {

caf::expected<pull_plan<image_info>>
plan_image_pull(const daemon_config& config, const image_pull_request& req) {
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
plan_kernel_pull(const daemon_config&, const kernel_pull_request& req) {
  if (auto why = validate_object_name("kernel", req.name); !why.empty())
    return make_error(ec::invalid_argument, why);
  return make_error(ec::not_found, "kernel pull " + req.name
                                     + ": no catalog names this kernel");
}

} // namespace banger
