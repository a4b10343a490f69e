-- Argo CD health check for zerotrust.dev/ZeroTrustBaseline (zerotrust-operator).
--
-- Health follows the Ready condition the operator writes (docs/policies.md, "ZeroTrustBaseline"):
--   Progressing  the baseline is being deleted, the operator has not yet processed its latest
--                generation (status.observedGeneration < metadata.generation), or it has not
--                reported Ready yet (or reports it Unknown);
--   Degraded     Ready=False (InvalidSelector, ApplyFailed): the floor is not in place;
--   Healthy      Ready=True: the floor is in place in every selected namespace. Audit
--                findings are about other objects, not the baseline: they are named in the
--                message and leave it Healthy.
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
  hs.status = "Degraded"
  hs.message = join(reason, message)
  return hs
end

if ready.status ~= "True" then
  hs.status = "Progressing"
  hs.message = join("Ready is " .. tostring(ready.status or "unset"), join(reason, message))
  return hs
end

if reason == "" then
  reason = "Ready"
end
hs.status = "Healthy"
hs.message = join(reason, message)
if status.findingsCount ~= nil and status.findingsCount > 0 then
  hs.message = hs.message .. "; the audit reports " .. tostring(status.findingsCount) ..
    " over-privilege finding(s) in the selected namespaces, see status.findings"
end
return hs
