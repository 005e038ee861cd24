// Log Analytics, Application Insights (Entra ID ingestion only) and the operators'
// workbook (infra/workbook/dtq.workbook.json).
param logAnalyticsName string
param appInsightsName string
param location string
param tags object

resource workspace 'Microsoft.OperationalInsights/workspaces@2023-09-01' = {
  name: logAnalyticsName
  location: location
  tags: tags
  properties: {
    sku: { name: 'PerGB2018' }
    retentionInDays: 30
    features: { disableLocalAuth: true }
  }
}

resource appInsights 'Microsoft.Insights/components@2020-02-02' = {
  name: appInsightsName
  location: location
  tags: tags
  kind: 'web'
  properties: {
    Application_Type: 'web'
    WorkspaceResourceId: workspace.id
    // Telemetry is accepted only with an Entra ID token (the app's identity), not
    // with the connection string's instrumentation key alone.
    DisableLocalAuth: true
  }
}

resource workbook 'Microsoft.Insights/workbooks@2023-06-01' = {
  name: guid(resourceGroup().id, appInsightsName, 'dtq-workbook')
  location: location
  tags: tags
  kind: 'shared'
  properties: {
    displayName: 'dtq: jobs'
    version: '1.0'
    category: 'workbook'
    sourceId: appInsights.id
    serializedData: loadTextContent('../../workbook/dtq.workbook.json')
  }
}

output appInsightsId string = appInsights.id
output appInsightsName string = appInsights.name
// A connection string holds no secret when local auth is disabled: ingestion needs a token.
output appInsightsConnectionString string = appInsights.properties.ConnectionString
output workbookId string = workbook.id
