-- Argo CD health check for zerotrust.dev/ServiceAccessPolicy (zerotrust-operator).
--
-- Health follows the Ready condition the operator writes (docs/policies.md, "Status"):
--   Progressing  the policy is being deleted, the operator has not yet processed its latest
--                generation (status.observedGeneration < metadata.generation), or it has not
--                reported Ready yet (or reports it Unknown);
--   Degraded     Ready=False: the policy grants less than it says, or nothing;
--   Healthy      Ready=True: the policy does what it says. The message says when that is
--                "nothing right now" (OutsideSchedule, Expired) or "nothing is blocked"
--                (mode Audit or DryRun), so it is visible in Argo CD without being an error.
--
-- Uses Lua's base library only (no string, os or math), so it runs as an argocd-cm
-- customization without resource.customizations.useOpenLibs.
local hs = {}

local function join(head, tail)
  if tail == nil or tail == "" then
    return head
  end
  if head == nil or head == "" then
    return tail
  end
  return head .. ": " .. tail
end

local meta = obj.metadata or {}
local status = obj.status

if meta.deletionTimestamp ~= nil then
  hs.status = "Progressing"
  hs.message = "being deleted: the operator removes what it generated for it"
  return hs
end

local ready = nil
if status ~= nil and status.conditions ~= nil then
  for _, condition in ipairs(status.conditions) do
    if condition.type == "Ready" then
      ready = condition
      break
    end
  end
end

-- The generation the status describes: status.observedGeneration, or, from an operator that
-- did not write it, the Ready condition's own.
local observed = nil
if status ~= nil then
  observed = status.observedGeneration
end
if observed == nil and ready ~= nil then
  observed = ready.observedGeneration
end
if meta.generation ~= nil and observed ~= nil and observed < meta.generation then
  hs.status = "Progressing"
  hs.message = "waiting for the operator to process generation " .. tostring(meta.generation) ..
    " (status describes generation " .. tostring(observed) .. ")"
  return hs
end

if ready == nil then
  hs.status = "Progressing"
  hs.message = "waiting for the operator to report the Ready condition"
  return hs
end

local reason = ready.reason or ""
local message = ready.message or ""

if ready.status == "False" then
  if reason == "" then
    reason = "NotReady"
  end
  local text = join(reason, message)
  -- The API server's answer, for a backend whose objects it refused (ApplyFailed).
  if status.backends ~= nil then
    for _, backend in ipairs(status.backends) do
      if backend.state == "Failed" and backend.message ~= nil and backend.message ~= "" then
        text = text .. "; " .. tostring(backend.name) .. ": " .. backend.message
      end
    end
  end
  hs.status = "Degraded"
  hs.message = text
  return hs
end

if ready.status ~= "True" then
  hs.status = "Progressing"
  hs.message = join("Ready is " .. tostring(ready.status or "unset"), join(reason, message))
  return hs
end

hs.status = "Healthy"
if reason == "OutsideSchedule" then
  local when = "the next schedule window"
  if status.nextTransition ~= nil then
    when = status.nextTransition
  end
  hs.message = join("OutsideSchedule, grants nothing until " .. when, message)
elseif reason == "Expired" then
  hs.message = join("Expired, grants nothing", message)
elseif reason == "DryRun" then
  hs.message = join("DryRun, not enforced", message)
elseif reason == "Audit" then
  hs.message = join("Audit, not enforced", message)
elseif reason == "" then
  hs.message = join("Ready", message)
else
  hs.message = join(reason, message)
end
return hs
