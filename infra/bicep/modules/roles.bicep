// What one principal may do, and no more: the app's identity (and, optionally, the
// deploying user for running the local host against the cloud).
param principalId string
@allowed([ 'ServicePrincipal', 'User' ])
param principalType string
param storageName string
param serviceBusName string
param jobQueues array
param eventsQueue string
param webhooksQueue string
param cosmosName string
param signalrName string
param appInsightsName string

// Built-in role definition ids (tests/infra/fixtures/builtin_roles.json holds Microsoft's
// definitions of them; tests/infra/test_roles.py checks each code path's actions).
var roles = {
  storageBlobDataOwner: 'b7e6dc6d-f1e8-4753-8033-0f276bb0955b'
  storageQueueDataContributor: '974c5e8b-45b9-4653-ba55-5f855dd0fb88'
  storageTableDataContributor: '0a9a7e1f-b9d0-4cc4-a60d-0319b160aaa3'
  serviceBusDataOwner: '090c5cfd-751d-490a-894a-3ce6f1109419'
  signalrServiceOwner: '7e4f1700-ea5a-4f59-8f37-079cfe29dce3'
  monitoringMetricsPublisher: '3913510d-42f4-4e42-8a64-420c390055eb'
}
// Cosmos DB's data-plane "Built-in Data Contributor" (read and write items; no keys, no
// control plane).
var cosmosDataContributor = '00000000-0000-0000-0000-000000000002'

resource storage 'Microsoft.Storage/storageAccounts@2023-05-01' existing = {
  name: storageName
}

resource namespace 'Microsoft.ServiceBus/namespaces@2024-01-01' existing = {
  name: serviceBusName
}

resource queues 'Microsoft.ServiceBus/namespaces/queues@2024-01-01' existing = [
  for queueName in concat(jobQueues, [ eventsQueue, webhooksQueue ]): {
    parent: namespace
    name: queueName
  }
]

resource cosmos 'Microsoft.DocumentDB/databaseAccounts@2024-05-15' existing = {
  name: cosmosName
}

resource signalr 'Microsoft.SignalRService/signalR@2024-03-01' existing = {
  name: signalrName
}

resource appInsights 'Microsoft.Insights/components@2020-02-02' existing = {
  name: appInsightsName
}

// The Functions host's storage: blobs (deployment package, timer locks, keys) and
// queues (host internals); dtq's tables (status, keys, counters, slots, idempotency).
resource blobOwner 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  scope: storage
  name: guid(storage.id, principalId, roles.storageBlobDataOwner)
  properties: {
    principalId: principalId
    principalType: principalType
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', roles.storageBlobDataOwner)
  }
}

resource queueContributor 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  scope: storage
  name: guid(storage.id, principalId, roles.storageQueueDataContributor)
  properties: {
    principalId: principalId
    principalType: principalType
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', roles.storageQueueDataContributor)
  }
}

resource tableContributor 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  scope: storage
  name: guid(storage.id, principalId, roles.storageTableDataContributor)
  properties: {
    principalId: principalId
    principalType: principalType
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', roles.storageTableDataContributor)
  }
}

// Send, receive and settle on dtq's queues, and read their runtime properties (the
// queue depth in /api/v1/stats needs the Manage claim): Data Owner, scoped to each
// queue rather than to the namespace.
resource queueOwner 'Microsoft.Authorization/roleAssignments@2022-04-01' = [
  for (queueName, i) in concat(jobQueues, [ eventsQueue, webhooksQueue ]): {
    scope: queues[i]
    name: guid(queues[i].id, principalId, roles.serviceBusDataOwner)
    properties: {
      principalId: principalId
      principalType: principalType
      roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', roles.serviceBusDataOwner)
    }
  }
]

resource cosmosData 'Microsoft.DocumentDB/databaseAccounts/sqlRoleAssignments@2024-05-15' = {
  parent: cosmos
  name: guid(cosmos.id, principalId, cosmosDataContributor)
  properties: {
    principalId: principalId
    roleDefinitionId: '${cosmos.id}/sqlRoleDefinitions/${cosmosDataContributor}'
    scope: cosmos.id
  }
}

// The SignalR bindings with an identity-based connection: negotiate first generates an
// access key (auth/accessKey/action) to sign the client's token, then the output binding
// adds the caller to a group and push sends to groups (REST API). SignalR Service Owner
// is the built-in role Microsoft names for a serverless negotiation server: REST API
// Owner lacks auth/accessKey, and App Server lacks the REST API's group actions.
resource signalrOwner 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  scope: signalr
  name: guid(signalr.id, principalId, roles.signalrServiceOwner)
  properties: {
    principalId: principalId
    principalType: principalType
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', roles.signalrServiceOwner)
  }
}

resource metricsPublisher 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  scope: appInsights
  name: guid(appInsights.id, principalId, roles.monitoringMetricsPublisher)
  properties: {
    principalId: principalId
    principalType: principalType
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', roles.monitoringMetricsPublisher)
  }
}
