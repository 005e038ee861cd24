// What a user can do to one job, from any view: cancel it, requeue it, purge it.
import { api } from "./api.js";
import { announce, confirmAction, publishJob, short } from "./dom.js";

export async function cancelJob(id) {
  try {
    const { data } = await api(`/jobs/${encodeURIComponent(id)}`, { method: "DELETE" });
    publishJob(data);
    announce(data.state === "cancelled" ? `Job ${short(id)} cancelled.` : `Job ${short(id)} is stopping.`);
    return data;
  } catch (error) {
    announce(`Could not cancel job ${short(id)}: ${error.message}`);
    return null;
  }
}

export async function requeueJob(id) {
  try {
    const { data } = await api(`/dlq/${encodeURIComponent(id)}/requeue`, { method: "POST", body: {} });
    publishJob(data);
    announce(`Job ${short(id)} requeued with ${data.max_attempts - data.attempt} fresh attempts.`);
    return data;
  } catch (error) {
    announce(`Could not requeue job ${short(id)}: ${error.message}`);
    return null;
  }
}

export async function purgeJob(id) {
  if (!(await confirmAction("Purge this job?", `Job ${id} will be deleted for good, with its history.`, "Purge job"))) return false;
  try {
    await api(`/dlq/${encodeURIComponent(id)}`, { method: "DELETE" });
    document.dispatchEvent(new CustomEvent("dtq:purged", { detail: [id] }));
    announce(`Job ${short(id)} purged.`);
    return true;
  } catch (error) {
    announce(`Could not purge job ${short(id)}: ${error.message}`);
    return false;
  }
}
