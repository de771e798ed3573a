#include "actors/library.hpp"

#include <filesystem>
#include <fstream>

#include <caf/all.hpp>
#include <caf/event_based_actor.hpp>

#include "actors/blocking.hpp"
#include "services/error.hpp"
#include "services/import.hpp"
#include "services/names.hpp"
#include "services/timefmt.hpp"

namespace banger {

namespace {

caf::behavior library_impl(caf::event_based_actor* self,
                           std::shared_ptr<const daemon_config> config,
                           store_actor store) {
  return {
    [=](atom::image, atom::list) {
      return self->delegate(store, atom::image_v, atom::list_v);
    },
    [=](atom::kernel, atom::list) {
      return self->delegate(store, atom::kernel_v, atom::list_v);
    },
    [=](atom::image, atom::import,
        image_import_request& req) -> caf::result<image_info> {
      if (auto why = validate_object_name("image", req.name); !why.empty())
        return make_error(ec::invalid_argument, why);
      if (req.kernel.empty())
        req.kernel = "default";
      auto rp = self->make_response_promise<image_info>();
      // The kernel must exist and the name must be free before any copy.
      self->request(store, caf::infinite, atom::kernel_v, atom::get_v,
                    req.kernel)
        .then(
          [=](kernel_info&) {
            self->request(store, caf::infinite, atom::image_v, atom::get_v,
                          req.name)
              .then(
                [=](image_info&) mutable {
                  rp.deliver(make_error(
                    ec::already_exists,
                    "an image named \"" + req.name
                      + "\" already exists (see: banger image list)"));
                },
                [=](caf::error&) {
                  auto images_dir = config->paths.images_dir();
                  self
                    ->request(blocking(self,
                                       [=]() {
                                         return import_image(images_dir, req);
                                       }),
                              caf::infinite, atom::run_v)
                    .then(
                      [=](image_info& info) mutable {
                        info.created_at = now_rfc3339();
                        self->request(store, caf::infinite, atom::image_v,
                                      atom::create_v, info)
                          .then([=](bool) mutable { rp.deliver(info); },
                                [=](caf::error& err) mutable {
                                  discard_import(info.rootfs);
                                  rp.deliver(err);
                                });
                      },
                      [=](caf::error& err) mutable { rp.deliver(err); });
                });
          },
          [=](caf::error& err) mutable { rp.deliver(err); });
      return rp;
    },
    [=](atom::kernel, atom::import,
        kernel_import_request& req) -> caf::result<kernel_info> {
      if (auto why = validate_object_name("kernel", req.name); !why.empty())
        return make_error(ec::invalid_argument, why);
      auto rp = self->make_response_promise<kernel_info>();
      self->request(store, caf::infinite, atom::kernel_v, atom::get_v,
                    req.name)
        .then(
          [=](kernel_info&) mutable {
            rp.deliver(make_error(ec::already_exists,
                                  "a kernel named \"" + req.name
                                    + "\" already exists (see: banger "
                                      "kernel list)"));
          },
          [=](caf::error&) {
            auto kernels_dir = config->paths.kernels_dir();
            self
              ->request(blocking(self,
                                 [=]() {
                                   return import_kernel(kernels_dir, req);
                                 }),
                        caf::infinite, atom::run_v)
              .then(
                [=](kernel_info& info) mutable {
                  info.created_at = now_rfc3339();
                  self->request(store, caf::infinite, atom::kernel_v,
                                atom::create_v, info)
                    .then([=](bool) mutable { rp.deliver(info); },
                          [=](caf::error& err) mutable {
                            discard_import(info.vmlinux);
                            rp.deliver(err);
                          });
                },
                [=](caf::error& err) mutable { rp.deliver(err); });
          });
      return rp;
    },
  };
}

} // namespace

caf::actor spawn_library(caf::actor_system& sys,
                         std::shared_ptr<const daemon_config> config,
                         store_actor store) {
  return sys.spawn(library_impl, std::move(config), std::move(store));
}

} // namespace banger
