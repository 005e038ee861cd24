// Service Bus: one queue per priority (each its own trigger and worker slots), the
// events queue of live updates and the queue of completion webhook attempts. Standard tier: duplicate detection and scheduled
// messages. Entra ID only (no SAS keys).
param name string
param location string
param tags object
@description('The job queues, one per priority.')
param jobQueues array
param eventsQueue string
@description('The queue of completion webhook attempts (DTQ_WEBHOOKS_QUEUE).')
param webhooksQueue string
@description('Deliveries before Service Bus dead-letters a message (DTQ_QUEUE_MAX_DELIVERY_COUNT).')
param maxDeliveryCount int
@description('Peek-lock duration, ISO 8601 (DTQ_QUEUE_LOCK_SECONDS); the host renews it while a job runs.')
param lockDuration string
@description('Duplicate detection window, ISO 8601 (DTQ_QUEUE_DUPLICATE_WINDOW_SECONDS).')
param duplicateWindow string

resource namespace 'Microsoft.ServiceBus/namespaces@2024-01-01' = {
  name: name
  location: location
  tags: tags
  sku: { name: 'Standard', tier: 'Standard' }
  properties: {
    disableLocalAuth: true
    minimumTlsVersion: '1.2'
    publicNetworkAccess: 'Enabled'
  }
}

resource queue 'Microsoft.ServiceBus/namespaces/queues@2024-01-01' = [
  for queueName in jobQueues: {
    parent: namespace
    name: queueName
    properties: {
      maxDeliveryCount: maxDeliveryCount
      lockDuration: lockDuration
      // One message id per attempt: a resend of the same attempt is dropped.
      requiresDuplicateDetection: true
      duplicateDetectionHistoryTimeWindow: duplicateWindow
      deadLetteringOnMessageExpiration: true
      defaultMessageTimeToLive: 'P14D'
      enablePartitioning: false
    }
  }
]

resource events 'Microsoft.ServiceBus/namespaces/queues@2024-01-01' = {
  parent: namespace
  name: eventsQueue
  properties: {
    // Live updates are worth little once old: they expire, and are not kept.
    maxDeliveryCount: 3
    lockDuration: 'PT30S'
    requiresDuplicateDetection: false
    deadLetteringOnMessageExpiration: false
    defaultMessageTimeToLive: 'PT5M'
    enablePartitioning: false
  }
}

resource webhooks 'Microsoft.ServiceBus/namespaces/queues@2024-01-01' = {
  parent: namespace
  name: webhooksQueue
  properties: {
    maxDeliveryCount: maxDeliveryCount
    lockDuration: lockDuration
    // One message id per attempt of a delivery: a resend of the same attempt is dropped.
    requiresDuplicateDetection: true
    duplicateDetectionHistoryTimeWindow: duplicateWindow
    deadLetteringOnMessageExpiration: true
    // Longer than the backoff of a delivery's last attempt (DTQ_WEBHOOK_BACKOFF_MAX_SECONDS).
    defaultMessageTimeToLive: 'P2D'
    enablePartitioning: false
  }
}

output id string = namespace.id
output name string = namespace.name
output fullyQualifiedNamespace string = '${namespace.name}.servicebus.windows.net'
output queueIds array = [for (queueName, i) in jobQueues: queue[i].id]
output eventsQueueId string = events.id
output webhooksQueueId string = webhooks.id
