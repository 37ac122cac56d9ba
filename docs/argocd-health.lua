-- Argo CD health check for diagnostic-operator.io/DiagnosticExecution.
--
-- Install it in the argocd-cm ConfigMap (or the Helm values of Argo CD) under
--   resource.customizations.health.diagnostic-operator.io_DiagnosticExecution: |
--     <this file>
-- Argo CD runs it with the live object as the global `obj` and reads back {status, message}.
--
--   status.phase                 Argo CD health   why
--   (no status yet)              Progressing      the operator has not accepted the execution yet
--   observedGeneration stale     Progressing      the operator has not seen the latest spec
--   Pending/Running/Retrying     Progressing      an attempt is queued, running, or waiting to be retried
--   Succeeded                    Healthy          results published and ingested
--   Failed                       Degraded         failureClass: reason: message (what kstatus calls Failed)
--   Cancelled                    Suspended        spec.cancel or deletion stopped it: finished, not broken
--   anything else                Unknown
-- It reads only status.phase, status.observedGeneration and status.conditions, the same fields kstatus and
-- Flux use (Reconciling=True: in progress; Stalled=True: failed), so the three tools agree.

local hs = {status = "Progressing", message = "Waiting for the operator to accept the execution"}

local function condition(status, kind)
  if status.conditions == nil then return nil end
  for _, c in ipairs(status.conditions) do
    if c.type == kind then return c end
  end
  return nil
end

local function describe(status)
  local parts = {}
  if status.failureClass ~= nil and status.failureClass ~= "" then table.insert(parts, status.failureClass) end
  if status.reason ~= nil and status.reason ~= "" then table.insert(parts, status.reason) end
  if status.message ~= nil and status.message ~= "" then table.insert(parts, status.message) end
  local text = table.concat(parts, ": ")
  if status.attempt ~= nil and status.attempt > 0 then
    text = "attempt " .. tostring(status.attempt) .. (text ~= "" and (": " .. text) or "")
  end
  return text
end

if obj.metadata ~= nil and obj.metadata.deletionTimestamp ~= nil then
  hs.status = "Progressing"
  hs.message = "Being deleted: the operator stops its Jobs and records Cancelled"
  return hs
end

local status = obj.status
if status == nil or status.phase == nil or status.phase == "" then
  return hs
end

local generation = obj.metadata ~= nil and obj.metadata.generation or nil
if generation ~= nil and status.observedGeneration ~= nil and status.observedGeneration ~= generation then
  hs.status = "Progressing"
  hs.message = "The operator has not observed generation " .. tostring(generation) .. " yet"
  return hs
end

local phase = status.phase
local text = describe(status)
if phase == "Succeeded" then
  hs.status = "Healthy"
  hs.message = text ~= "" and text or "Succeeded"
elseif phase == "Failed" then
  hs.status = "Degraded"
  hs.message = text ~= "" and text or "Failed"
elseif phase == "Cancelled" then
  hs.status = "Suspended"
  hs.message = text ~= "" and text or "Cancelled"
elseif phase == "Pending" or phase == "Running" or phase == "Retrying" then
  local stalled = condition(status, "Stalled")
  if stalled ~= nil and stalled.status == "True" then
    hs.status = "Degraded"
  else
    hs.status = "Progressing"
  end
  hs.message = phase .. (text ~= "" and (": " .. text) or "")
else
  hs.status = "Unknown"
  hs.message = "Unknown phase " .. tostring(phase)
end
return hs
