#include "balance/tiered.h"

namespace fulcrum::balance {

const Server* Tiered::pick(const PickContext& ctx) {
  // The common case costs one extra virtual call: the primary tier answers.
  if (const Server* s = primary_->pick(ctx)) return s;
  // The primary tier had nothing for this request. Only when that is because no primary is
  // usable at all (not merely the avoided one) do backups take over. This scan
  // runs only on that rare path.
  for (const Server* s : primaries_) {
    if (usable(*s)) return nullptr;
  }
  return backup_->pick(ctx);
}

}  // namespace fulcrum::balance
