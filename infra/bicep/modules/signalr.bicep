// Azure SignalR Service in serverless mode: the Functions bindings negotiate and send;
// the browser connects directly. Entra ID only.
param name string
param location string
param tags object
@description('Free_F1 (20 connections) for trying dtq; Standard_S1 for real use.')
param skuName string = 'Free_F1'
param allowedOrigins array

resource signalr 'Microsoft.SignalRService/signalR@2024-03-01' = {
  name: name
  location: location
  tags: tags
  kind: 'SignalR'
  sku: { name: skuName, capacity: 1 }
  properties: {
    features: [
      { flag: 'ServiceMode', value: 'Serverless' }
      { flag: 'EnableConnectivityLogs', value: 'True' }
    ]
    cors: { allowedOrigins: allowedOrigins }
    disableLocalAuth: true
    disableAadAuth: false
    publicNetworkAccess: 'Enabled'
    tls: { clientCertEnabled: false }
  }
}

output id string = signalr.id
output name string = signalr.name
output serviceUri string = 'https://${signalr.properties.hostName}'
