// dtq on Azure: `azd up` provisions this and deploys the API (function app) and the web
// UI (static web app). Every connection is identity-based: no key or connection secret
// is created, stored or output. docs/deploy.md walks through it.
targetScope = 'subscription'

@minLength(1)
@maxLength(40)
@description('azd environment name: names the resource group and seeds resource names.')
param environmentName string

@minLength(1)
@description('Region of every resource but the static web app. Flex Consumption runs in these regions only (the list of Microsoft\'s Flex Consumption azd sample, Azure-Samples/functions-quickstart-python-http-azd infra/main.bicep, less the early-access eastus2euap; `az functionapp list-flexconsumption-locations` gives today\'s list). docs/deploy.md.')
@allowed([
  'australiaeast'
  'australiasoutheast'
  'brazilsouth'
  'canadacentral'
  'centralindia'
  'centralus'
  'eastasia'
  'eastus'
  'eastus2'
  'francecentral'
  'germanywestcentral'
  'italynorth'
  'japaneast'
  'koreacentral'
  'northcentralus'
  'northeurope'
  'norwayeast'
  'southafricanorth'
  'southcentralus'
  'southeastasia'
  'southindia'
  'spaincentral'
  'swedencentral'
  'uaenorth'
  'uksouth'
  'ukwest'
  'westcentralus'
  'westeurope'
  'westus'
  'westus2'
  'westus3'
])
@metadata({ azd: { type: 'location' } })
param location string

@description('Object id of the deploying user: given the same data roles as the app, so the local host can run against the cloud (azd sets AZURE_PRINCIPAL_ID). Empty: none.')
param principalId string = ''

@description('What principalId is: a User (azd up from a laptop) or a ServicePrincipal (azd in CI, signed in by OIDC); azd sets AZURE_PRINCIPAL_TYPE.')
@allowed([ 'User', 'ServicePrincipal' ])
param principalType string = 'User'

@description('Region of the static web app (it is offered in these regions only).')
@allowed([ 'westus2', 'centralus', 'eastus2', 'westeurope', 'eastasia' ])
param staticWebAppLocation string = 'westeurope'

@description('SignalR Service tier: Free_F1 (20 connections) or Standard_S1.')
param signalrSku string = 'Free_F1'

var tags = { 'azd-env-name': environmentName, app: 'dtq' }
var token = toLower(uniqueString(subscription().id, environmentName, location))

// The names the code reads (local.settings.example.json): resources are created with
// them and app settings point at them.
var jobQueues = {
  high: 'dtq-jobs-high'
  normal: 'dtq-jobs'
  low: 'dtq-jobs-low'
}
var eventsQueue = 'dtq-events'
var webhooksQueue = 'dtq-webhooks'
var tables = {
  status: 'dtqjobs'
  apiKeys: 'dtqapikeys'
  rates: 'dtqrates'
  slots: 'dtqslots'
  idempotency: 'dtqidempotency'
  webhooks: 'dtqwebhooks'
  schedules: 'dtqschedules'
}
var cosmosDatabase = 'dtq'
var cosmosContainer = 'results'
var signalrHub = 'dtq'
var resultTtlSeconds = 604800
var deploymentContainer = 'app-package'
// Service Bus behaviour the embedded queue imitates (DTQ_QUEUE_* settings).
var maxDeliveryCount = 10
var lockSeconds = 30
var lockDuration = 'PT${lockSeconds}S'
var duplicateWindow = 'PT10M'

resource rg 'Microsoft.Resources/resourceGroups@2024-03-01' = {
  name: 'rg-${environmentName}'
  location: location
  tags: tags
}

module identity 'modules/identity.bicep' = {
  scope: rg
  name: 'identity'
  params: { name: 'id-dtq-${token}', location: location, tags: tags }
}

module monitoring 'modules/monitoring.bicep' = {
  scope: rg
  name: 'monitoring'
  params: {
    logAnalyticsName: 'log-dtq-${token}'
    appInsightsName: 'appi-dtq-${token}'
    location: location
    tags: tags
  }
}

module storage 'modules/storage.bicep' = {
  scope: rg
  name: 'storage'
  params: {
    name: 'stdtq${token}'
    location: location
    tags: tags
    deploymentContainer: deploymentContainer
    tables: [ tables.status, tables.apiKeys, tables.rates, tables.slots, tables.idempotency, tables.webhooks, tables.schedules ]
  }
}

module servicebus 'modules/servicebus.bicep' = {
  scope: rg
  name: 'servicebus'
  params: {
    name: 'sb-dtq-${token}'
    location: location
    tags: tags
    jobQueues: [ jobQueues.high, jobQueues.normal, jobQueues.low ]
    eventsQueue: eventsQueue
    webhooksQueue: webhooksQueue
    maxDeliveryCount: maxDeliveryCount
    lockDuration: lockDuration
    duplicateWindow: duplicateWindow
  }
}

module cosmos 'modules/cosmos.bicep' = {
  scope: rg
  name: 'cosmos'
  params: {
    name: 'cosmos-dtq-${token}'
    location: location
    tags: tags
    databaseName: cosmosDatabase
    containerName: cosmosContainer
    defaultTtl: resultTtlSeconds
  }
}

// The web UI. It calls the function app's own URL (no linked backend: Static Web Apps
// lists no Flex Consumption among the plans it can link, and a linked backend would take
// the API away from the CLI and other key-holding clients); the function app allows the
// UI's origin by CORS. docs/deploy.md, "Reaching the API".
module web 'modules/staticwebapp.bicep' = {
  scope: rg
  name: 'web'
  params: {
    name: 'stapp-dtq-${token}'
    location: staticWebAppLocation
    tags: tags
  }
}

// Known before the service exists, so the app settings do not wait for it (and the
// service can take the UI's origin for CORS).
var signalrName = 'sigr-dtq-${token}'
var signalrServiceUri = 'https://${signalrName}.service.signalr.net'

module signalr 'modules/signalr.bicep' = {
  scope: rg
  name: 'signalr'
  params: {
    name: signalrName
    location: location
    tags: tags
    skuName: signalrSku
    allowedOrigins: [ web.outputs.uri ]
  }
}

var identityClientId = identity.outputs.clientId

// Every app setting, by the names the code and the Functions host read. A test checks
// them against shared/settings.py and local.settings.example.json.
var appSettings = {
  // The Functions host's own storage, through the identity.
  AzureWebJobsStorage__blobServiceUri: storage.outputs.blobEndpoint
  AzureWebJobsStorage__queueServiceUri: storage.outputs.queueEndpoint
  AzureWebJobsStorage__tableServiceUri: storage.outputs.tableEndpoint
  AzureWebJobsStorage__credential: 'managedidentity'
  AzureWebJobsStorage__clientId: identityClientId
  // Telemetry: Entra ID ingestion; the Python worker streams its own logs.
  APPLICATIONINSIGHTS_CONNECTION_STRING: monitoring.outputs.appInsightsConnectionString
  APPLICATIONINSIGHTS_AUTHENTICATION_STRING: 'ClientId=${identityClientId};Authorization=AAD'
  PYTHON_ENABLE_OPENTELEMETRY: 'true'
  // Backends.
  DTQ_QUEUE_BACKEND: 'servicebus'
  DTQ_STATUS_BACKEND: 'table'
  DTQ_RESULT_BACKEND: 'cosmos'
  ServiceBusConnection__fullyQualifiedNamespace: servicebus.outputs.fullyQualifiedNamespace
  ServiceBusConnection__credential: 'managedidentity'
  ServiceBusConnection__clientId: identityClientId
  TableStorageConnection__tableServiceUri: storage.outputs.tableEndpoint
  TableStorageConnection__credential: 'managedidentity'
  TableStorageConnection__clientId: identityClientId
  CosmosDBConnection__accountEndpoint: cosmos.outputs.endpoint
  CosmosDBConnection__credential: 'managedidentity'
  CosmosDBConnection__clientId: identityClientId
  AzureSignalRConnectionString__serviceUri: signalrServiceUri
  AzureSignalRConnectionString__credential: 'managedidentity'
  AzureSignalRConnectionString__clientId: identityClientId
  // Names (binding expressions resolve %DTQ_...% from these).
  DTQ_JOBS_QUEUE_HIGH: jobQueues.high
  DTQ_JOBS_QUEUE: jobQueues.normal
  DTQ_JOBS_QUEUE_LOW: jobQueues.low
  DTQ_EVENTS_QUEUE: eventsQueue
  DTQ_WEBHOOKS_QUEUE: webhooksQueue
  DTQ_WEBHOOKS_TABLE: tables.webhooks
  DTQ_SCHEDULES_TABLE: tables.schedules
  DTQ_SIGNALR_HUB: signalrHub
  DTQ_STATUS_TABLE: tables.status
  DTQ_API_KEYS_TABLE: tables.apiKeys
  DTQ_RATES_TABLE: tables.rates
  DTQ_SLOTS_TABLE: tables.slots
  DTQ_IDEMPOTENCY_TABLE: tables.idempotency
  DTQ_COSMOS_DATABASE: cosmosDatabase
  DTQ_COSMOS_RESULTS_CONTAINER: cosmosContainer
  DTQ_RESULT_TTL_SECONDS: string(resultTtlSeconds)
  DTQ_QUEUE_MAX_DELIVERY_COUNT: string(maxDeliveryCount)
  DTQ_QUEUE_LOCK_SECONDS: string(lockSeconds)
  DTQ_RETENTION_SCHEDULE: '0 15 * * * *'
  DTQ_RECONCILE_SCHEDULE: '30 * * * * *'
  DTQ_WEBHOOK_SWEEP_SCHEDULE: '45 * * * * *'
  DTQ_SCHEDULES_TIMER_SCHEDULE: '0 * * * * *'
  // Access: API keys for every caller, the web UI included. The function app is reached
  // directly, so a forged x-ms-client-principal header must never be trusted.
  DTQ_REQUIRE_API_KEYS: 'true'
  DTQ_TRUST_CLIENT_PRINCIPAL: 'false'
}

module api 'modules/functionapp.bicep' = {
  scope: rg
  name: 'api'
  params: {
    planName: 'plan-dtq-${token}'
    appName: 'func-dtq-${token}'
    location: location
    tags: tags
    identityId: identity.outputs.id
    storageBlobEndpoint: storage.outputs.blobEndpoint
    deploymentContainer: deploymentContainer
    appSettings: appSettings
    // The web UI's origin only (scheme and host, as browsers send it).
    allowedOrigins: [ web.outputs.uri ]
  }
}

module appRoles 'modules/roles.bicep' = {
  scope: rg
  name: 'app-roles'
  params: {
    principalId: identity.outputs.principalId
    principalType: 'ServicePrincipal'
    storageName: storage.outputs.name
    serviceBusName: servicebus.outputs.name
    jobQueues: [ jobQueues.high, jobQueues.normal, jobQueues.low ]
    eventsQueue: eventsQueue
    webhooksQueue: webhooksQueue
    cosmosName: cosmos.outputs.name
    signalrName: signalr.outputs.name
    appInsightsName: monitoring.outputs.appInsightsName
  }
}

module userRoles 'modules/roles.bicep' = if (!empty(principalId)) {
  scope: rg
  name: 'user-roles'
  params: {
    principalId: principalId
    principalType: principalType
    storageName: storage.outputs.name
    serviceBusName: servicebus.outputs.name
    jobQueues: [ jobQueues.high, jobQueues.normal, jobQueues.low ]
    eventsQueue: eventsQueue
    webhooksQueue: webhooksQueue
    cosmosName: cosmos.outputs.name
    signalrName: signalr.outputs.name
    appInsightsName: monitoring.outputs.appInsightsName
  }
}

// azd reads these (and the postprovision hook writes local.settings.json from them).
// Endpoints and names only: no key, connection secret or token.
output AZURE_LOCATION string = location
output AZURE_RESOURCE_GROUP string = rg.name
output API_URL string = 'https://${api.outputs.defaultHostName}'
output WEB_URL string = web.outputs.uri
output SERVICEBUS_NAMESPACE string = servicebus.outputs.fullyQualifiedNamespace
output TABLE_SERVICE_URI string = storage.outputs.tableEndpoint
output COSMOS_ENDPOINT string = cosmos.outputs.endpoint
output SIGNALR_SERVICE_URI string = signalr.outputs.serviceUri
output WORKBOOK_ID string = monitoring.outputs.workbookId
