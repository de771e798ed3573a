#include "actors/puller.hpp"

#include <atomic>
#include <functional>
#include <map>
#include <vector>

#include <caf/all.hpp>
#include <caf/stateful_actor.hpp>

#include "actors/blocking.hpp"
#include "actors/pull_plans.hpp"
#include "services/error.hpp"
#include "services/log.hpp"
#include "services/timefmt.hpp"

namespace banger {

namespace {

template <class Info>
struct waiter {
  caf::typed_response_promise<Info> rp;
  caf::actor sink;
  std::uint64_t stream = 0;
};

template <class Info>
struct pull_job {
  std::string source;
  std::vector<waiter<Info>> waiters;
  std::shared_ptr<std::atomic<bool>> cancel;
};

template <class Info>
struct puller_state {
  static inline const char* name = "puller";
  std::map<std::string, pull_job<Info>> jobs;
};

template <class Info>
using puller_ptr = caf::stateful_actor<puller_state<Info>>*;

template <class Info>
void notify(puller_ptr<Info> self, const waiter<Info>& w,
            const progress_event& ev) {
  if (w.sink)
    self->send(w.sink, atom::progress_v, w.stream, ev);
}

/// Ends the job for `key`: every waiter gets `result`.
template <class Info, class Result>
void finish(puller_ptr<Info> self, const std::string& key, Result result) {
  auto it = self->state.jobs.find(key);
  if (it == self->state.jobs.end())
    return;
  auto job = std::move(it->second);
  self->state.jobs.erase(it);
  for (auto& w : job.waiters)
    w.rp.deliver(result);
}

/// Runs the plan's work in a worker, then registers the result.
template <class Info, class Kind>
void run_work(puller_ptr<Info> self, store_actor store, Kind kind,
              pull_plan<Info> plan) {
  auto key = plan.key;
  auto cancel = self->state.jobs[key].cancel;
  auto me = caf::actor_cast<caf::actor>(self);
  progress_fn progress = [me, key](const progress_event& ev) {
    caf::anon_send(me, atom::progress_v, key, ev);
  };
  auto work = plan.work;
  auto file = plan.file;
  self
    ->request(blocking(self, [work, progress, cancel] {
                return work(progress, cancel.get());
              }),
              caf::infinite, atom::run_v)
    .then(
      [=](Info& info) {
        if (cancel->load()) {
          discard_then(self, info.*file, [=] {
            finish(self, key,
                   make_error(ec::cancelled, "the pull was cancelled"));
          });
          return;
        }
        info.created_at = now_rfc3339();
        self->request(store, caf::infinite, kind, atom::create_v, info)
          .then([=](bool) { finish(self, key, info); },
                [=](caf::error& err) {
                  discard_then(self, info.*file,
                               [=] { finish(self, key, err); });
                });
      },
      [=](caf::error& err) { finish(self, key, err); });
}

/// Looks for an existing result first: same source means "already pulled";
/// another source is a name clash.
template <class Info, class Kind>
void start(puller_ptr<Info> self, store_actor store, Kind kind,
           pull_plan<Info> plan) {
  auto key = plan.key;
  auto go = [=] {
    self->request(store, caf::infinite, kind, atom::get_v, key)
      .then(
        [=](Info& existing) {
          if (!plan.source.empty() && existing.source == plan.source) {
            auto it = self->state.jobs.find(key);
            if (it != self->state.jobs.end())
              for (auto& w : it->second.waiters)
                notify(self, w,
                       {"done", plan.what + " \"" + key
                                  + "\" is already pulled from "
                                  + plan.source,
                        0, 0});
            finish(self, key, existing);
            return;
          }
          auto from = existing.source.empty() ? std::string("local files")
                                              : existing.source;
          finish(self, key,
                 make_error(ec::already_exists,
                            (plan.what == "image" ? "an " : "a ") + plan.what
                              + " named \"" + key
                              + "\" exists already (from " + from
                              + "); pull under another name with --name, or "
                                "remove it first (banger "
                              + plan.what + " rm " + key + ")"));
        },
        [=](caf::error& err) {
          if (error_code(err) != ec::not_found) {
            finish(self, key, err);
            return;
          }
          run_work(self, store, kind, plan);
        });
  };
  if (plan.needs_kernel.empty()) {
    go();
    return;
  }
  self->request(store, caf::infinite, atom::kernel_v, atom::get_v,
                plan.needs_kernel)
    .then([=](kernel_info&) { go(); },
          [=](caf::error& err) {
            finish(self, key,
                   make_error(error_code(err),
                              error_message(err)
                                + " (pick one with --kernel, or pull it "
                                  "first: banger kernel pull NAME)"));
          });
}

/// Joins a running pull of the plan's key, or starts one.
template <class Info, class Kind>
void admit(puller_ptr<Info> self, store_actor store, Kind kind,
           pull_plan<Info> plan, waiter<Info> w) {
  auto& jobs = self->state.jobs;
  if (auto it = jobs.find(plan.key); it != jobs.end()) {
    if (it->second.source != plan.source) {
      w.rp.deliver(make_error(ec::bad_state,
                              plan.what + " \"" + plan.key
                                + "\" is being pulled from "
                                + it->second.source
                                + "; wait for it, or pull under another "
                                  "name with --name"));
      return;
    }
    notify(self, w,
           {"wait", "joining the pull of \"" + plan.key + "\" in progress",
            0, 0});
    it->second.waiters.push_back(std::move(w));
    return;
  }
  auto& job = jobs[plan.key];
  job.source = plan.source;
  job.cancel = std::make_shared<std::atomic<bool>>(false);
  job.waiters.push_back(std::move(w));
  log::info("puller", "pulling {} \"{}\" from {}", plan.what, plan.key,
            plan.source);
  start(self, store, kind, std::move(plan));
}

template <class Info, class Request, class Kind>
caf::behavior puller_impl(puller_ptr<Info> self, store_actor store, Kind kind,
                          std::vector<std::string> catalog_sources,
                          std::function<bool(const Request&)> wants_catalog,
                          plan_fn<Info, Request> make_plan) {
  return {
    [=](atom::pull, Request& req, caf::actor sink,
        std::uint64_t stream) -> caf::result<Info> {
      auto rp = self->template make_response_promise<Info>();
      waiter<Info> w{rp, sink, stream};
      if (!wants_catalog(req)) {
        // The promise owns the answer now: errors go through it too.
        auto plan = make_plan(req, {});
        if (!plan)
          w.rp.deliver(plan.error());
        else
          admit(self, store, kind, std::move(*plan), std::move(w));
        return rp;
      }
      // Catalogs may be remote: read them in a worker.
      auto sources = catalog_sources;
      self
        ->request(blocking(self, [sources] { return load_catalogs(sources); }),
                  caf::infinite, atom::run_v)
        .then(
          [=](std::vector<catalog_entry>& catalog) mutable {
            auto plan = make_plan(req, catalog);
            if (!plan)
              w.rp.deliver(plan.error());
            else
              admit(self, store, kind, std::move(*plan), std::move(w));
          },
          [=](caf::error& err) mutable { w.rp.deliver(err); });
      return rp;
    },
    [=](atom::progress, const std::string& key, const progress_event& ev) {
      auto it = self->state.jobs.find(key);
      if (it == self->state.jobs.end())
        return;
      for (auto& w : it->second.waiters)
        notify(self, w, ev);
    },
    [=](atom::cancel, const caf::actor& sink, std::uint64_t stream) {
      for (auto& [key, job] : self->state.jobs) {
        auto& ws = job.waiters;
        for (auto it = ws.begin(); it != ws.end(); ++it) {
          if (it->sink != sink || it->stream != stream)
            continue;
          it->rp.deliver(make_error(ec::cancelled, "pull cancelled"));
          ws.erase(it);
          if (ws.empty()) {
            log::info("puller", "nobody waits for \"{}\" any more; "
                                "cancelling its pull", key);
            job.cancel->store(true);
          }
          return;
        }
      }
    },
  };
}

} // namespace

caf::actor spawn_image_puller(caf::actor_system& sys,
                              std::shared_ptr<const daemon_config> config,
                              store_actor store) {
  plan_fn<image_info, image_pull_request> plans
    = [config](const image_pull_request& req,
               const std::vector<catalog_entry>& catalog) {
        return plan_image_pull(*config, req, catalog);
      };
  std::function<bool(const image_pull_request&)> wants
    = [](const image_pull_request& req) {
        return may_be_catalog_name(req.ref);
      };
  return sys.spawn(puller_impl<image_info, image_pull_request, atom::image>,
                   std::move(store), atom::image_v, config->catalog_sources,
                   std::move(wants), std::move(plans));
}

caf::actor spawn_image_puller(caf::actor_system& sys, store_actor store,
                              plan_fn<image_info, image_pull_request> plans) {
  std::function<bool(const image_pull_request&)> never
    = [](const image_pull_request&) { return false; };
  return sys.spawn(puller_impl<image_info, image_pull_request, atom::image>,
                   std::move(store), atom::image_v, std::vector<std::string>{},
                   std::move(never), std::move(plans));
}

caf::actor spawn_kernel_puller(caf::actor_system& sys,
                               std::shared_ptr<const daemon_config> config,
                               store_actor store) {
  plan_fn<kernel_info, kernel_pull_request> plans
    = [config](const kernel_pull_request& req,
               const std::vector<catalog_entry>& catalog) {
        return plan_kernel_pull(*config, req, catalog);
      };
  std::function<bool(const kernel_pull_request&)> wants
    = [](const kernel_pull_request&) { return true; };
  return sys.spawn(
    puller_impl<kernel_info, kernel_pull_request, atom::kernel>,
    std::move(store), atom::kernel_v, config->catalog_sources,
    std::move(wants), std::move(plans));
}

} // namespace banger
